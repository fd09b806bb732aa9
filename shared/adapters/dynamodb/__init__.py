"""DynamoDB repositories: the only code that talks to the tables (low-level client, typed items).

Every repository takes its table name and an optional boto3 client (tests and wiring pass one);
tenancy is checked here on every read, update and delete (see docs/data-model.md).
"""
