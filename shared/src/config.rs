//! Configuration from environment variables; a missing variable is named in the error.

/// A required environment variable is missing, empty or not valid Unicode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} is {problem}")]
pub struct ConfigError {
    /// The variable, e.g. `ORDERS_TABLE`.
    pub name: String,
    /// `not set`, `empty` or `not valid Unicode`.
    pub problem: &'static str,
}

/// The value of environment variable `name`, trimmed.
///
/// # Errors
/// [`ConfigError`] naming `name` when it is unset, blank or not valid Unicode.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    let error = |problem| ConfigError {
        name: name.to_owned(),
        problem,
    };
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Err(error("empty")),
        Ok(value) => Ok(value.trim().to_owned()),
        Err(std::env::VarError::NotPresent) => Err(error("not set")),
        Err(std::env::VarError::NotUnicode(_)) => Err(error("not valid Unicode")),
    }
}

/// Config of the functions that use the users table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersConfig {
    /// DynamoDB table name, from `USERS_TABLE`.
    pub users_table: String,
}

impl UsersConfig {
    /// Reads `USERS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] when it is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            users_table: required_env("USERS_TABLE")?,
        })
    }
}

/// Config of the functions that use the orders table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdersConfig {
    /// DynamoDB table name, from `ORDERS_TABLE`.
    pub orders_table: String,
}

impl OrdersConfig {
    /// Reads `ORDERS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] when it is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            orders_table: required_env("ORDERS_TABLE")?,
        })
    }
}

/// Config of the functions that publish order events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdersQueueConfig {
    /// SQS queue URL, from `ORDERS_QUEUE_URL`.
    pub orders_queue_url: String,
}

impl OrdersQueueConfig {
    /// Reads `ORDERS_QUEUE_URL`.
    ///
    /// # Errors
    /// [`ConfigError`] when it is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            orders_queue_url: required_env("ORDERS_QUEUE_URL")?,
        })
    }
}

/// Config of the functions that use the products table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductsConfig {
    /// DynamoDB table name, from `PRODUCTS_TABLE`.
    pub products_table: String,
}

impl ProductsConfig {
    /// Reads `PRODUCTS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] when it is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            products_table: required_env("PRODUCTS_TABLE")?,
        })
    }
}

/// Config of the functions that commit events with their state change (transactional outbox)
/// or de-duplicate what they consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStoreConfig {
    /// Outbox table, from `OUTBOX_TABLE`.
    pub outbox_table: String,
    /// Idempotency table (consumer markers, `Idempotency-Key` records), from
    /// `IDEMPOTENCY_TABLE`.
    pub idempotency_table: String,
}

impl EventStoreConfig {
    /// Reads `OUTBOX_TABLE` and `IDEMPOTENCY_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first one missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            outbox_table: required_env("OUTBOX_TABLE")?,
            idempotency_table: required_env("IDEMPOTENCY_TABLE")?,
        })
    }
}

/// Config of the inventory side's stock reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationsConfig {
    /// DynamoDB table name, from `RESERVATIONS_TABLE`.
    pub reservations_table: String,
}

impl ReservationsConfig {
    /// Reads `RESERVATIONS_TABLE`.
    ///
    /// # Errors
    /// [`ConfigError`] when it is missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            reservations_table: required_env("RESERVATIONS_TABLE")?,
        })
    }
}

/// Config of the outbox relay: the queue of each consuming service, and its own dead-letter
/// queue for the stream records it cannot publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Inventory queue URL, from `INVENTORY_QUEUE_URL`.
    pub inventory_queue_url: String,
    /// Payments queue URL, from `PAYMENTS_QUEUE_URL`.
    pub payments_queue_url: String,
    /// Orders queue URL, from `ORDERS_QUEUE_URL`.
    pub orders_queue_url: String,
    /// Dead-letter queue URL, from `OUTBOX_DEAD_LETTER_QUEUE_URL`.
    pub dead_letter_queue_url: String,
}

impl RelayConfig {
    /// Reads `INVENTORY_QUEUE_URL`, `PAYMENTS_QUEUE_URL`, `ORDERS_QUEUE_URL` and
    /// `OUTBOX_DEAD_LETTER_QUEUE_URL`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first one missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            inventory_queue_url: required_env("INVENTORY_QUEUE_URL")?,
            payments_queue_url: required_env("PAYMENTS_QUEUE_URL")?,
            orders_queue_url: required_env("ORDERS_QUEUE_URL")?,
            dead_letter_queue_url: required_env("OUTBOX_DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// Config of the payments consumer (`capture-payment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentsConfig {
    /// The payments table (one charge record per order), from `PAYMENTS_TABLE`.
    pub payments_table: String,
    /// Its own queue, for `ChangeMessageVisibility`, from `PAYMENTS_QUEUE_URL`.
    pub payments_queue_url: String,
    /// The Cloud Map namespace of the provider's instances, from `PAYMENTS_NAMESPACE`.
    pub namespace: String,
    /// The Cloud Map service of the provider's instances, from `PAYMENTS_SERVICE`.
    pub service: String,
    /// The Secrets Manager secret holding the provider's API key, from
    /// `PAYMENTS_API_KEY_SECRET_ARN`.
    pub api_key_secret: String,
}

impl PaymentsConfig {
    /// Reads the variables above.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first one missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            payments_table: required_env("PAYMENTS_TABLE")?,
            payments_queue_url: required_env("PAYMENTS_QUEUE_URL")?,
            namespace: required_env("PAYMENTS_NAMESPACE")?,
            service: required_env("PAYMENTS_SERVICE")?,
            api_key_secret: required_env("PAYMENTS_API_KEY_SECRET_ARN")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let error = required_env("SHARED_TEST_SURELY_NOT_SET_4F2A").unwrap_err();

        assert_eq!(
            error.to_string(),
            "environment variable SHARED_TEST_SURELY_NOT_SET_4F2A is not set"
        );
    }

    #[test]
    fn a_set_variable_is_returned() {
        // PATH is set in every test environment; reading it needs no unsafe set_var.
        let value = required_env("PATH").unwrap();

        assert!(!value.is_empty());
    }
}
