//! Resolution of [`Expr`]essions against local names: pseudo parameters, parameter values and
//! the physical resources created on the emulator.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};

use crate::Template;
use crate::expr::Expr;

/// What a logical id stands for once created locally.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// What `!Ref` returns (table name, queue URL, API id…).
    pub reference: String,
    /// What `!GetAtt Id.Attr` returns, by attribute name (`Arn`, `QueueName`, `QueueUrl`,
    /// a table's `StreamArn`…).
    pub attributes: BTreeMap<String, String>,
}

/// Resolves expressions against local names: pseudo parameters, parameter values and the
/// physical resources devstack created.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId` (moto's and LocalStack's default is `000000000000`/`123456789012`).
    pub account_id: String,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// Parameter values (defaults from the template, possibly overridden).
    pub parameters: BTreeMap<String, String>,
    /// Created resources by logical id.
    pub resources: BTreeMap<String, Physical>,
}

impl Resolver {
    /// A resolver with the template's parameter defaults and no resources yet.
    pub fn new(template: &Template, region: &str, account_id: &str, stack_name: &str) -> Self {
        Self {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            stack_name: stack_name.to_owned(),
            parameters: template.parameter_defaults.clone(),
            resources: BTreeMap::new(),
        }
    }

    /// The resolver for planning names before anything exists: the default region and
    /// account, `prefix` as the stack name, no resources.
    pub fn for_planning(template: &Template, prefix: &str) -> Self {
        Self::new(
            template,
            crate::aws::DEFAULT_REGION,
            crate::aws::ACCOUNT_ID,
            prefix,
        )
    }

    /// Resolves an expression to a string.
    ///
    /// # Errors
    /// An unknown parameter, logical id or attribute (the message names it), a list where a
    /// string is expected, or a `Select` index out of range.
    pub fn string(&self, e: &Expr) -> Result<String> {
        match e {
            Expr::Literal(s) => Ok(s.clone()),
            Expr::List(_) => bail!("expected a string, got a list"),
            Expr::Ref(name) => self.name(name),
            Expr::GetAtt {
                resource,
                attribute,
            } => self.attribute(resource, attribute),
            Expr::Sub { text, variables } => self.sub(text, variables),
            Expr::Join { separator, list } => Ok(self.list(list)?.join(separator)),
            Expr::Select { index, list } => {
                let index: usize = self
                    .string(index)?
                    .parse()
                    .context("Select index is not a number")?;
                self.list(list)?
                    .into_iter()
                    .nth(index)
                    .ok_or_else(|| anyhow!("Select: index {index} out of range"))
            }
        }
    }

    /// Resolves an expression to a list of strings.
    ///
    /// # Errors
    /// The expression is not a list, or an item does not resolve (see [`Resolver::string`]).
    pub fn list(&self, e: &Expr) -> Result<Vec<String>> {
        match e {
            Expr::List(items) => items.iter().map(|x| self.string(x)).collect(),
            other => bail!("expected a list, got {other:?}"),
        }
    }

    fn name(&self, name: &str) -> Result<String> {
        Ok(match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account_id.clone(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NoValue" => String::new(),
            _ => {
                if let Some(p) = self.parameters.get(name) {
                    p.clone()
                } else if let Some(r) = self.resources.get(name) {
                    r.reference.clone()
                } else {
                    bail!("Ref {name}: no such parameter or resource created locally")
                }
            }
        })
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String> {
        self.resources
            .get(resource)
            .and_then(|p| p.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| anyhow!("GetAtt {resource}.{attribute}: not available locally"))
    }

    fn sub(&self, text: &str, variables: &BTreeMap<String, Expr>) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Sub: unclosed ${{ in {text}"))?;
            let var = &after[..end];
            if let Some(literal) = var.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = variables.get(var) {
                out.push_str(&self.string(v)?);
            } else if let Some((res, attr)) =
                var.split_once('.').filter(|_| !var.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(res, attr)?);
            } else {
                out.push_str(&self.name(var)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
