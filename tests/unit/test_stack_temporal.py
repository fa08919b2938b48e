"""The dev stack's Temporal launcher: persistent state and the custom search attributes."""

import asyncio

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.ports import free_port, port_open
from devstack.temporal import SEARCH_ATTRIBUTES, start_temporal


async def _custom_attributes(address: str) -> dict[str, int]:
    client = await Client.connect(address)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    return dict(listed.custom_attributes)


def test_attributes_added_later_are_registered_on_an_existing_database(tmp_path) -> None:
    db = tmp_path / "temporal.db"
    port = free_port()
    server = start_temporal(port, db_filename=db, search_attributes=("TenantId",))
    server.stop()
    assert not port_open(port)

    # start-dev alone would ignore new --search-attribute flags on an existing file.
    server = start_temporal(free_port(), db_filename=db, log_path=tmp_path / "t.log")
    try:
        attributes = asyncio.run(_custom_attributes(server.address))
    finally:
        server.stop()
    for name in SEARCH_ATTRIBUTES:
        assert attributes.get(name) == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
