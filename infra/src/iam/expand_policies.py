"""Each function's IAM policy documents, as `sam deploy` would create them.

Runs the SAM translator (samtranslator, the library `sam deploy` and cfn-lint use) on the
template, then reads the execution role SAM generates for each AWS::Serverless::Function
(`<Function>Role`): its inline policies (the template's `Statement`s and the expanded policy
templates such as DynamoDBCrudPolicy) and its managed policies (AWS managed ones with the
document moto ships for them; the template's own AWS::IAM::ManagedPolicy with its document).

Usage: python expand_policies.py TEMPLATE [REGION]. Prints JSON on stdout:
{"<FunctionLogicalId>": {"role": "<RoleLogicalId>", "policies": [{"name": ..., "source": ...,
"document": {...}}]}}. Intrinsics (Ref, Fn::GetAtt, Fn::Sub, ...) are left as written for
devstack to resolve against what it created.
"""

import json
import os
import sys


def main():
    path = sys.argv[1]
    os.environ.setdefault("AWS_DEFAULT_REGION", sys.argv[2] if len(sys.argv) > 2 else "us-east-1")
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    resources = template.get("Resources", {})
    # The translator wants an S3 location for code it does not build (cfn-lint does the same).
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if not str(props.get("CodeUri", "")).startswith("s3://"):
                props["CodeUri"] = "s3://bucket/key"
    functions = [k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"]
    translated = Translator(managed_policy_map=None, sam_parser=parser.Parser()).translate(
        sam_template=template, parameter_values={}
    )
    out_resources = translated.get("Resources", {})
    aws_managed = {}
    try:
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        aws_managed = json.loads(aws_managed_policies_data)
    except ImportError:
        pass
    out = {}
    for function in functions:
        role_ref = out_resources[function]["Properties"].get("Role", {})
        role_id = role_ref.get("Fn::GetAtt", [None])[0] if isinstance(role_ref, dict) else None
        role = out_resources.get(role_id, {}).get("Properties", {}) if role_id else {}
        policies = []
        for p in role.get("Policies", []):
            policies.append({"name": p.get("PolicyName"), "source": "inline", "document": p.get("PolicyDocument")})
        for arn in role.get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in out_resources:
                res = out_resources[arn["Ref"]]
                if res.get("Type") == "AWS::IAM::ManagedPolicy":
                    policies.append({"name": arn["Ref"], "source": "managed", "document": res["Properties"].get("PolicyDocument")})
                continue
            if isinstance(arn, dict) and "Fn::Sub" in arn:
                arn = arn["Fn::Sub"] if isinstance(arn["Fn::Sub"], str) else arn["Fn::Sub"][0]
            if isinstance(arn, str):
                name = arn.rsplit("/", 1)[-1]
                doc = aws_managed.get(name, {}).get("Document")
                if doc is not None:
                    policies.append({"name": name, "source": "aws-managed", "document": doc})
        out[function] = {"role": role_id, "policies": policies}
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
