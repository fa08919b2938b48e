"""Temporal client factory shared by the API, the worker and the CLI."""

from __future__ import annotations

import dataclasses

import temporalio.converter
from temporalio.client import Client

from penguinmails.codec import EncryptionCodec
from penguinmails.settings import Settings


def data_converter(codec_key: bytes) -> temporalio.converter.DataConverter:
    return dataclasses.replace(
        temporalio.converter.default(), payload_codec=EncryptionCodec(codec_key)
    )


async def connect(settings: Settings, codec_key: bytes) -> Client:
    if not settings.temporal_address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set (the dev stack sets it when it starts)")
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls,
        data_converter=data_converter(codec_key),
    )
