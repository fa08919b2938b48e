"""Generated CSV files through the real upload and import: never a 500, and the counts
always add up to the rows, with exactly the accepted rows in the list."""

from __future__ import annotations

import csv
import io

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services import Services
from tests.api.conftest import Tenant
from tests.api.test_lead_imports import create_list, invariant, leads_of, upload
from workflows.names import LEAD_IMPORT, workflow_id

POOL = ["a@x.example", "B@X.example", "c@y.example", "info@z.example", "d@mailinator.com"]
text = st.text(alphabet=st.sampled_from([*"abcXYZ é,;|\t\"\n\r'@.ü漢\x00"]), max_size=12)
email = st.one_of(st.sampled_from(POOL), st.emails().map(str), text)
row = st.tuples(email, text, text, st.lists(text, max_size=3))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = [draw(st.sampled_from(["email", "E-mail", "Email Address"])), "First Name", "Note"]
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))
    )
    writer.writerow(header)
    for e, first, note, extra in draw(st.lists(row, max_size=25)):
        if draw(st.booleans()) and not extra:
            out.write("\n")  # a blank line
        writer.writerow([e, first, note, *extra])
    if draw(st.booleans()):
        out.write(draw(text))  # a ragged end
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return out.getvalue().encode(encoding, errors="replace")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=csv_files())
async def test_generated_csv_never_500_and_counts_add_up(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, data: bytes
) -> None:
    list_id = await create_list(api, tenant_a)
    r = await upload(api, tenant_a, list_id, data)
    assert r.status_code in (202, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"]["message"]
        return
    import_id = r.json()["id"]
    await services.temporal.get_workflow_handle(
        workflow_id(LEAD_IMPORT, tenant_a.tenant_id, import_id)
    ).result()
    body = (await api.get(f"/v1/imports/{import_id}", headers=tenant_a.auth)).json()
    assert body["status"] in ("completed", "failed"), body
    invariant(body)
    if body["status"] == "completed":
        assert len(await leads_of(api, tenant_a, list_id)) == body["accepted"]
        rejected = await api.get(f"/v1/imports/{import_id}/rejected.csv", headers=tenant_a.auth)
        assert rejected.status_code == 200
