"""Which tracking hits are not a person (issue "Bot filtering"): a pure classifier over the
hit's method, User-Agent, client address and age of the message.

The rules (agents and networks) are data (`penguinmails/data/bot_rules.txt`, or the file
`BOT_RULES_PATH` names) so they can be updated without a code change. Bot hits are still
stored (`bot = true`); rates and conditions leave them out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_RULES = Path(__file__).parent / "data" / "bot_rules.txt"
# A hit this soon after the send is a scanner or a prefetch: nobody reads that fast.
TOO_SOON = dt.timedelta(seconds=5)
SEEN_SIZE = 10_000


@dataclass(frozen=True)
class BotRules:
    agents: tuple[str, ...]  # lower-case substrings
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    _agents_seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    _addresses_seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> BotRules:
        agents: list[str] = []
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, value = line.partition(" ")
            value = value.strip()
            if kind == "agent" and value:
                agents.append(value.lower())
            elif kind == "network" and value:
                networks.append(ipaddress.ip_network(value, strict=False))
            else:
                raise ValueError(
                    f"bot rules line {number}: expected `agent <text>` or `network <cidr>`"
                )
        return cls(tuple(agents), tuple(networks))

    def classify(
        self,
        method: str,
        user_agent: str,
        client_ip: str | None,
        sent_at: dt.datetime | None,
        now: dt.datetime,
    ) -> str | None:
        """The reason this hit is a bot's, or None for a person's."""
        if method == "HEAD":
            return "head_request"
        if sent_at is not None and now - sent_at < TOO_SOON:
            return "too_soon_after_send"
        if not user_agent:
            return "no_user_agent"
        if self._known_agent(user_agent):
            return "known_agent"
        if client_ip and self._known_address(client_ip):
            return "known_network"
        return None

    # Answers remembered per rules object (bounded): proxies and clients repeat the same
    # agents and addresses, and this runs on every tracking hit.
    def _known_agent(self, user_agent: str) -> bool:
        known = self._agents_seen.get(user_agent)
        if known is None:
            agent = user_agent.lower()
            known = any(needle in agent for needle in self.agents)
            _remember(self._agents_seen, user_agent, known)
        return known

    def _known_address(self, client_ip: str) -> bool:
        known = self._addresses_seen.get(client_ip)
        if known is None:
            try:
                address = ipaddress.ip_address(client_ip)
                known = any(address in network for network in self.networks)
            except ValueError:
                known = False
            _remember(self._addresses_seen, client_ip, known)
        return known


def _remember(seen: dict[str, bool], key: str, value: bool) -> None:
    if len(seen) >= SEEN_SIZE:
        seen.clear()
    seen[key] = value


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> BotRules:
    return BotRules.parse((path or DEFAULT_RULES).read_text(encoding="utf-8"))


__all__ = ["DEFAULT_RULES", "TOO_SOON", "BotRules", "load_rules"]
