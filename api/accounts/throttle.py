"""The budgets of login, forgot-password and reset attempts (``api.ratelimit``).

Login and reset count *failures*: one unit is taken before the password or code is checked
(so concurrent guesses cannot overtake the count) and given back when it was right. The
budget of an account is kept for the name typed, never for a looked-up user, so an account
that does not exist is throttled exactly like one that does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from api import ratelimit
from api.ratelimit import Rule, Taken
from kernel.errors import TooManyRequests
from kernel.i18n import N_, Msg
from kernel.settings import get_settings
from store.uow import now

LOGIN_ACCOUNT = "login-account"


@dataclass
class Attempt:
    """Units taken for one attempt; ``not_a_failure`` gives them back."""

    taken: list[Taken] = field(default_factory=list)

    async def not_a_failure(self) -> None:
        for unit in self.taken:
            await ratelimit.give_back(unit)
        self.taken = []


def _refuse(unit: Taken, why: str) -> TooManyRequests:
    return TooManyRequests(
        "{why} Try again in {wait}.",
        why=Msg(why),
        wait=ratelimit.wait_words(unit.retry_after),
        extra={"retry_after": unit.retry_after},
        headers={"Retry-After": str(unit.retry_after)},
    )


async def take_all(steps: list[tuple[Rule, str, str]]) -> Attempt:
    """Take one unit of each rule in turn; on the first refusal give back what this
    attempt took under the earlier rules (a refused attempt checks nothing, so it is no
    failure: a user retrying his throttled account does not use up his hospital's shared
    address) and raise 429. The refused unit stays: the window's end does not move."""
    attempt = Attempt()
    for rule, subject, why in steps:
        unit = await ratelimit.take(rule, subject)
        if not unit.allowed:
            await attempt.not_a_failure()
            raise _refuse(unit, why)
        attempt.taken.append(unit)
    return attempt


async def login_attempt(ip: str, identifier: str) -> Attempt:
    settings = get_settings()
    window = settings.login.login_failure_window_seconds
    return await take_all(
        [
            (
                Rule("login-address", settings.login.login_failures_per_address, window),
                ratelimit.address_subject(ip),
                N_("Too many failed logins from your network."),
            ),
            (
                Rule(LOGIN_ACCOUNT, settings.login.login_failures_per_account, window),
                identifier.strip(),
                N_("Too many failed logins for this account."),
            ),
        ]
    )


async def forgot_request(ip: str, identifier: str) -> None:
    settings = get_settings()
    window = settings.login.forgot_window_seconds
    await take_all(
        [
            (
                Rule("forgot-address", settings.login.forgot_per_address, window),
                ratelimit.address_subject(ip),
                N_("Too many verification codes were requested from your network."),
            ),
            (
                Rule("forgot-account", settings.login.forgot_per_account, window),
                identifier.strip(),
                N_("Too many verification codes were requested for this account."),
            ),
        ]
    )


async def phone_code_request(number: str) -> None:
    """The codes one phone number may be sent to bind it, from any accounts: the
    forgot-password budget of one account, per number."""
    login = get_settings().login
    await take_all(
        [
            (
                Rule("bind-code-number", login.forgot_per_account, login.forgot_window_seconds),
                number,
                N_("Too many verification codes were sent to this phone number."),
            )
        ]
    )


async def reset_attempt(ip: str) -> Attempt:
    settings = get_settings()
    return await take_all(
        [
            (
                Rule(
                    "reset-address",
                    settings.login.reset_failures_per_address,
                    settings.login.reset_failure_window_seconds,
                ),
                ratelimit.address_subject(ip),
                N_("Too many wrong verification codes from your network."),
            )
        ]
    )


async def unknown_account_failure(identifier: str) -> int:
    """Count a wrong password for a name that is no account, per calendar day like a real
    account's count (``AIMIS_TIME_ZONE``), so that such a name freezes after the same number
    of tries and reads exactly like an account that exists."""
    settings = get_settings()
    local = now().astimezone(ZoneInfo(settings.server.time_zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = max(1, int((midnight - local).total_seconds()))
    rule = Rule(
        f"login-unknown-{local.date().isoformat()}", settings.login.max_failed_logins, seconds
    )
    return (await ratelimit.take(rule, identifier.strip())).count


async def forget_account(*identifiers: str | None) -> None:
    """An administrator unfroze the account: its login budget starts afresh too."""
    for identifier in identifiers:
        if identifier:
            await ratelimit.clear(LOGIN_ACCOUNT, identifier.strip())
