//! What one SDK request needs authorized: its IAM action(s), the resource ARN(s) and the
//! condition keys, read from the request the fault proxy sees (service and operation from
//! [`crate::fault::rules::identify`], parameters from the JSON or form body).
//!
//! The mapping follows the Service Authorization Reference
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/>):
//! - DynamoDB: the table ARN (`…:table/<name>`, `…/index/<index>` for a `Query` or `Scan` on an
//!   index); `BatchGetItem` / `BatchWriteItem` need their action on every table they name;
//!   `TransactWriteItems` needs `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem`
//!   per item and `TransactGetItems` needs `GetItem` per item, each on its table
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>).
//! - SQS: the queue ARN from `QueueUrl` (or `QueueName`); a `…Batch` operation is authorized as
//!   its single form (`SendMessageBatch` as `sqs:SendMessage`).
//! - Secrets Manager: the secret ARN (`SecretId`, a name resolved to the ARN of a known secret).
//! - Cloud Map `DiscoverInstances`: resource `*`, with `servicediscovery:NamespaceName` and
//!   `servicediscovery:ServiceName` as condition keys.
//! - Any other operation: its action, with the resource left unknown (only the action is checked).

use std::collections::BTreeMap;

use serde_json::Value;

use super::policy::Authorization;
use crate::fault::rules::{Call, Protocol};

/// Where the request is made: the partition's region and account for the ARNs it names.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// Region of the request (its SigV4 credential scope), e.g. `us-east-1`.
    pub region: &'a str,
    /// The account that owns the resources, e.g. `123456789012`.
    pub account: &'a str,
    /// ARNs of the secrets devstack created, to resolve a `SecretId` given by name.
    pub secret_arns: &'a [String],
}

/// The IAM service prefix of a call's service (`dynamodbstreams` is authorized as `dynamodb`).
fn prefix(service: &str) -> &str {
    match service {
        "dynamodbstreams" => "dynamodb",
        "route53autonaming_v20170314" => "servicediscovery",
        s => s,
    }
}

fn one(action: String, resource: Option<String>) -> Vec<Authorization> {
    vec![Authorization {
        action,
        resource,
        context: BTreeMap::new(),
    }]
}

/// The authorizations `call` with `body` (and `query`) needs; empty when the request names no
/// operation (not an AWS API call devstack can read).
pub fn authorizations(
    call: &Call,
    query: Option<&str>,
    body: &[u8],
    scope: &Scope<'_>,
) -> Vec<Authorization> {
    let Some(operation) = call.operation.as_deref() else {
        return Vec::new();
    };
    let service = prefix(&call.service);
    let params: Value = match call.protocol {
        Protocol::Json => serde_json::from_slice(body).unwrap_or(Value::Null),
        Protocol::Query => {
            let mut map = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .chain(form_urlencoded::parse(body))
            {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            Value::Object(map)
        }
        Protocol::Other => Value::Null,
    };
    let text = |field: &str| params.get(field).and_then(Value::as_str).map(str::to_owned);
    match service {
        "dynamodb" => dynamodb(operation, &params, scope),
        "sqs" => {
            let action = format!(
                "sqs:{}",
                operation.strip_suffix("Batch").unwrap_or(operation)
            );
            let queue = text("QueueUrl")
                .and_then(|url| {
                    url.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .map(str::to_owned)
                })
                .or_else(|| text("QueueName"));
            let resource =
                queue.map(|q| format!("arn:aws:sqs:{}:{}:{q}", scope.region, scope.account));
            one(action, resource)
        }
        "secretsmanager" => {
            let resource = text("SecretId").map(|id| secret_arn(&id, scope));
            one(format!("secretsmanager:{operation}"), resource)
        }
        "servicediscovery" if operation == "DiscoverInstances" => {
            let mut context = BTreeMap::new();
            for (field, key) in [
                ("NamespaceName", "servicediscovery:namespacename"),
                ("ServiceName", "servicediscovery:servicename"),
            ] {
                if let Some(v) = text(field) {
                    context.insert(key.to_owned(), v);
                }
            }
            vec![Authorization {
                action: "servicediscovery:DiscoverInstances".into(),
                resource: Some("*".into()),
                context,
            }]
        }
        "elasticache" => {
            let resource = text("ReplicationGroupId")
                .map(|id| {
                    format!(
                        "arn:aws:elasticache:{}:{}:replicationgroup:{id}",
                        scope.region, scope.account
                    )
                })
                .unwrap_or_else(|| "*".into());
            one(format!("elasticache:{operation}"), Some(resource))
        }
        other => one(format!("{other}:{operation}"), None),
    }
}

/// A secret's ARN from a `SecretId`: an ARN as given; a name as the known secret's ARN
/// (`…:secret:<name>-<6 random characters>`), else a name-only ARN that matches no policy
/// written for another secret.
fn secret_arn(id: &str, scope: &Scope<'_>) -> String {
    if id.starts_with("arn:") {
        return id.to_owned();
    }
    scope
        .secret_arns
        .iter()
        .find(|arn| {
            arn.rsplit_once(":secret:")
                .and_then(|(_, tail)| tail.rsplit_once('-'))
                .is_some_and(|(name, _)| name == id)
        })
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "arn:aws:secretsmanager:{}:{}:secret:{id}",
                scope.region, scope.account
            )
        })
}

fn table_arn(name: &str, scope: &Scope<'_>) -> String {
    if name.starts_with("arn:") {
        name.to_owned()
    } else {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{name}",
            scope.region, scope.account
        )
    }
}

fn dynamodb(operation: &str, params: &Value, scope: &Scope<'_>) -> Vec<Authorization> {
    let on = |action: &str, table: &str| Authorization {
        action: format!("dynamodb:{action}"),
        resource: Some(table_arn(table, scope)),
        context: BTreeMap::new(),
    };
    match operation {
        "BatchGetItem" | "BatchWriteItem" => params
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|tables| tables.keys().map(|t| on(operation, t)).collect())
            .unwrap_or_default(),
        "TransactWriteItems" | "TransactGetItems" => params
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let (kind, inner) = item.as_object()?.iter().next()?;
                        let action = match kind.as_str() {
                            "Put" => "PutItem",
                            "Update" => "UpdateItem",
                            "Delete" => "DeleteItem",
                            "ConditionCheck" => "ConditionCheckItem",
                            "Get" => "GetItem",
                            _ => return None,
                        };
                        Some(on(action, inner.get("TableName")?.as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => {
            let resource = match (
                params.get("TableName").and_then(Value::as_str),
                params.get("IndexName").and_then(Value::as_str),
            ) {
                (Some(t), Some(i)) => Some(format!("{}/index/{i}", table_arn(t, scope))),
                (Some(t), None) => Some(table_arn(t, scope)),
                (None, _) => params
                    .get("StreamArn")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| (operation == "ListTables").then(|| "*".to_owned())),
            };
            one(format!("dynamodb:{operation}"), resource)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, op: &str) -> Call {
        Call {
            service: service.into(),
            operation: Some(op.into()),
            protocol: Protocol::Json,
        }
    }

    const SCOPE: Scope<'static> = Scope {
        region: "us-east-1",
        account: "123456789012",
        secret_arns: &[],
    };

    fn pairs(a: &[Authorization]) -> Vec<(String, Option<String>)> {
        a.iter()
            .map(|a| (a.action.clone(), a.resource.clone()))
            .collect()
    }

    #[test]
    fn a_dynamodb_item_call_names_its_table_and_index() {
        let a = authorizations(
            &call("dynamodb", "GetItem"),
            None,
            br#"{"TableName":"products"}"#,
            &SCOPE,
        );
        assert_eq!(
            pairs(&a),
            [(
                "dynamodb:GetItem".into(),
                Some("arn:aws:dynamodb:us-east-1:123456789012:table/products".into())
            )]
        );
        let a = authorizations(
            &call("dynamodb", "Query"),
            None,
            br#"{"TableName":"orders","IndexName":"by-user"}"#,
            &SCOPE,
        );
        assert_eq!(
            a[0].resource.as_deref(),
            Some("arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/by-user")
        );
    }

    #[test]
    fn a_transaction_needs_each_items_action_on_its_table() {
        let body = br#"{"TransactItems":[{"Put":{"TableName":"orders"}},{"Update":{"TableName":"products"}},{"ConditionCheck":{"TableName":"users"}}]}"#;
        let a = authorizations(&call("dynamodb", "TransactWriteItems"), None, body, &SCOPE);
        let actions: Vec<&str> = a.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem"
            ]
        );
        assert!(
            a[2].resource
                .as_deref()
                .is_some_and(|r| r.ends_with("table/users"))
        );
    }

    #[test]
    fn an_sqs_batch_is_authorized_as_its_single_form_on_the_queue() {
        let body = br#"{"QueueUrl":"http://127.0.0.1:4566/123456789012/orders","Entries":[]}"#;
        let a = authorizations(&call("sqs", "SendMessageBatch"), None, body, &SCOPE);
        assert_eq!(
            pairs(&a),
            [(
                "sqs:SendMessage".into(),
                Some("arn:aws:sqs:us-east-1:123456789012:orders".into())
            )]
        );
    }

    #[test]
    fn a_secret_name_becomes_the_known_secrets_arn() {
        let arns = [
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop-api-key-AbCdEf".to_owned(),
        ];
        let scope = Scope {
            secret_arns: &arns,
            ..SCOPE
        };
        let a = authorizations(
            &call("secretsmanager", "GetSecretValue"),
            None,
            br#"{"SecretId":"shop-api-key"}"#,
            &scope,
        );
        assert_eq!(a[0].resource.as_deref(), Some(arns[0].as_str()));
    }

    #[test]
    fn discover_instances_carries_its_condition_keys() {
        let body = br#"{"NamespaceName":"shop.local","ServiceName":"payments"}"#;
        let a = authorizations(
            &call("servicediscovery", "DiscoverInstances"),
            None,
            body,
            &SCOPE,
        );
        assert_eq!(a[0].context["servicediscovery:servicename"], "payments");
        assert_eq!(a[0].resource.as_deref(), Some("*"));
    }

    #[test]
    fn a_query_protocol_call_reads_the_form_body() {
        let c = Call {
            service: "elasticache".into(),
            operation: Some("DescribeReplicationGroups".into()),
            protocol: Protocol::Query,
        };
        let a = authorizations(
            &c,
            None,
            b"Action=DescribeReplicationGroups&ReplicationGroupId=cache",
            &SCOPE,
        );
        assert_eq!(
            a[0].resource.as_deref(),
            Some("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:cache")
        );
    }
}
