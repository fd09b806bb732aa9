import boto3

from infra.template import load_template, table_env_vars


def test_every_table_of_the_template_exists_when_moto_starts(aws):
    names = set(boto3.client("dynamodb").list_tables()["TableNames"])
    assert names == set(aws.values())
    assert set(table_env_vars(load_template())) == set(aws)


def test_tables_have_their_ttl_when_the_template_declares_one(aws):
    client = boto3.client("dynamodb")
    ttl = client.describe_time_to_live(TableName=aws["CONNECTIONS_TABLE"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
