from email.message import EmailMessage
from uuid import uuid4

import aiosmtplib

from devstack.smtp_sink import SmtpSink, has_message_id


def _message(message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sender@example.test"
    msg["To"] = "lead@example.test"
    msg["Subject"] = "Hello from the sink test"
    msg["Message-ID"] = message_id
    msg.set_content("Body line one.\nBody line two.\n")
    return msg


async def test_message_is_written_and_found_by_message_id(smtp_sink: SmtpSink) -> None:
    message_id = f"<{uuid4().hex}@penguinmails.test>"
    await aiosmtplib.send(_message(message_id), hostname=smtp_sink.host, port=smtp_sink.port)

    files = smtp_sink.messages(message_id)
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert b"Subject: Hello from the sink test" in raw
    assert b"Body line one." in raw
    assert raw.startswith(b"Received: from ")
    assert b"X-Sink-Rcpt-To: <lead@example.test>" in raw

    assert smtp_sink.has_message_id(message_id)
    assert smtp_sink.has_message_id(message_id.strip("<>"))  # with or without brackets
    assert has_message_id(smtp_sink.directory, message_id)  # from another process's view
    assert not smtp_sink.has_message_id(f"<{uuid4().hex}@penguinmails.test>")
    assert not smtp_sink.has_message_id("")


async def test_a_duplicate_send_is_kept_twice(smtp_sink: SmtpSink) -> None:
    message_id = f"<{uuid4().hex}@penguinmails.test>"
    for _ in range(2):
        await aiosmtplib.send(_message(message_id), hostname=smtp_sink.host, port=smtp_sink.port)
    assert len(smtp_sink.messages(message_id)) == 2


async def test_message_body_bytes_are_kept(smtp_sink: SmtpSink) -> None:
    message_id = f"<{uuid4().hex}@penguinmails.test>"
    msg = _message(message_id)
    raw = msg.as_bytes().replace(b"\n", b"\r\n")
    await aiosmtplib.send(
        raw,
        sender="sender@example.test",
        recipients=["lead@example.test"],
        hostname=smtp_sink.host,
        port=smtp_sink.port,
    )
    (stored,) = smtp_sink.messages(message_id)
    assert stored.read_bytes().endswith(raw)


def test_in_process_sink_starts_and_stops(tmp_path) -> None:
    from devstack.ports import free_port, port_open

    port = free_port()
    with SmtpSink(tmp_path, port=port) as sink:
        assert port_open(sink.port)
    assert not port_open(port)
