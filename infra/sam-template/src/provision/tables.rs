//! The template's DynamoDB tables: their plans (physical name, `CreateTable` input, TTL) and
//! their creation on the emulator.

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use serde_json::Value as Json;

use crate::resources::{self, TableProperties};
use crate::{Resolver, Template};

/// A table to create: the `CreateTable` input in the API's JSON shape, and its TTL attribute.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// Logical id in the template.
    pub logical_id: String,
    /// Physical table name.
    pub name: String,
    /// `CreateTable` request (AWS API JSON shape, as `aws dynamodb create-table --cli-input-json`).
    pub create: Json,
    /// `TimeToLiveSpecification.AttributeName`, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    /// The table's properties as the template gives them.
    pub properties: TableProperties,
}

/// The tables the template declares, with physical names under `prefix`.
///
/// # Errors
/// A `TableName` uses an intrinsic devstack cannot resolve before anything exists.
pub fn table_plans(template: &Template, prefix: &str) -> Result<Vec<TablePlan>> {
    let resolver = Resolver::for_planning(template, prefix);
    template
        .tables()
        .map(|(id, props)| {
            let base = props
                .table_name
                .as_ref()
                .map(|n| resolver.string(n))
                .transpose()
                .with_context(|| format!("table {id}: TableName"))?
                .unwrap_or_else(|| id.to_owned());
            let name = format!("{prefix}-{base}");
            let mut create = serde_json::to_value(props)?;
            if let Json::Object(map) = &mut create {
                map.insert("TableName".into(), Json::String(name.clone()));
                if let Some(s) = &props.stream_specification {
                    map.insert(
                        "StreamSpecification".into(),
                        serde_json::json!({ "StreamEnabled": true, "StreamViewType": s.stream_view_type }),
                    );
                }
            }
            let ttl_attribute = props
                .time_to_live_specification
                .as_ref()
                .filter(|t| t.enabled)
                .map(|t| t.attribute_name.clone());
            Ok(TablePlan {
                logical_id: id.to_owned(),
                name,
                create,
                ttl_attribute,
                properties: props.clone(),
            })
        })
        .collect()
}

/// A created (or found) table's ARNs, as the emulator reports them.
pub(crate) struct CreatedTable {
    pub(crate) arn: String,
    /// `LatestStreamArn`, when the table has a stream.
    pub(crate) stream_arn: Option<String>,
}

/// Creates the table (or finds it) and returns its ARNs. An existing table that lacks the
/// stream the template declares gets it enabled (its other settings are left alone).
pub(crate) async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    plan: &TablePlan,
) -> Result<CreatedTable> {
    let p = &plan.properties;
    let mut req = client
        .create_table()
        .table_name(&plan.name)
        .set_key_schema(Some(key_schema(&p.key_schema)?))
        .billing_mode(BillingMode::from(
            p.billing_mode.as_deref().unwrap_or("PROVISIONED"),
        ));
    for a in &p.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()?,
        );
    }
    if let Some(t) = p.provisioned_throughput {
        req = req.provisioned_throughput(throughput(t)?);
    }
    for g in &p.global_secondary_indexes {
        let mut b = GlobalSecondaryIndex::builder()
            .index_name(&g.index_name)
            .set_key_schema(Some(key_schema(&g.key_schema)?))
            .projection(projection(&g.projection));
        if let Some(t) = g.provisioned_throughput {
            b = b.provisioned_throughput(throughput(t)?);
        }
        req = req.global_secondary_indexes(b.build()?);
    }
    for l in &p.local_secondary_indexes {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&l.index_name)
                .set_key_schema(Some(key_schema(&l.key_schema)?))
                .projection(projection(&l.projection))
                .build()?,
        );
    }
    let stream = p
        .stream_specification
        .as_ref()
        .map(|s| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(s.stream_view_type.as_str()))
                .build()
        })
        .transpose()?;
    req = req.set_stream_specification(stream.clone());
    match req.send().await {
        Ok(out) => {
            if let Some(t) = out.table_description
                && let Some(arn) = t.table_arn
            {
                set_ttl(client, plan).await?;
                return Ok(CreatedTable {
                    arn,
                    stream_arn: t.latest_stream_arn,
                });
            }
        }
        // Exists: reuse it, keeping its data.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_sdk_dynamodb::Error::from(e).into()),
    }
    let table = client
        .describe_table()
        .table_name(&plan.name)
        .send()
        .await
        .map_err(aws_sdk_dynamodb::Error::from)?
        .table
        .ok_or_else(|| anyhow!("DescribeTable returned no table"))?;
    let arn = table
        .table_arn
        .clone()
        .ok_or_else(|| anyhow!("DescribeTable returned no TableArn"))?;
    let enabled = table
        .stream_specification
        .as_ref()
        .is_some_and(|s| s.stream_enabled);
    let stream_arn = match stream {
        Some(spec) if !enabled => client
            .update_table()
            .table_name(&plan.name)
            .stream_specification(spec)
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)
            .context("enabling the table's stream")?
            .table_description
            .and_then(|t| t.latest_stream_arn),
        _ => table.latest_stream_arn,
    };
    Ok(CreatedTable { arn, stream_arn })
}

async fn set_ttl(client: &aws_sdk_dynamodb::Client, plan: &TablePlan) -> Result<()> {
    if let Some(attr) = &plan.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(&plan.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attr)
                    .build()?,
            )
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)?;
    }
    Ok(())
}

fn key_schema(keys: &[resources::KeySchemaElement]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(p: &resources::Projection) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(
            p.projection_type.as_deref().unwrap_or("ALL"),
        ))
        .set_non_key_attributes(
            (!p.non_key_attributes.is_empty()).then(|| p.non_key_attributes.clone()),
        )
        .build()
}

fn throughput(t: resources::Throughput) -> Result<ProvisionedThroughput> {
    Ok(ProvisionedThroughput::builder()
        .read_capacity_units(t.read_capacity_units)
        .write_capacity_units(t.write_capacity_units)
        .build()?)
}
