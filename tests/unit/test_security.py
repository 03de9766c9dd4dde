"""Password hashing: argon2id, production cost by default, each hash verified at its own cost."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from kernel import security
from kernel.settings import PasswordSettings

pytestmark = pytest.mark.unit


def test_the_default_cost_is_rfc_9106_low_memory() -> None:
    fields = PasswordSettings.model_fields
    assert fields["hash_memory_kib"].default == 65536
    assert fields["hash_time_cost"].default == 3


def test_hashes_are_argon2id_at_the_configured_cost() -> None:
    # tests/conftest.py sets the test cost; a deployment gets the defaults above
    hashed = security.hash_password("Correct-Horse-9")
    assert hashed.startswith("$argon2id$v=19$m=8192,t=1,p=4$")
    assert security.verify_password(hashed, "Correct-Horse-9")
    assert not security.verify_password(hashed, "Correct-Horse-8")
    assert not security.verify_password("not a hash", "Correct-Horse-9")


def test_a_hash_made_at_another_cost_still_verifies() -> None:
    # accounts created before a cost change keep logging in
    older = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("Correct-Horse-9")
    assert security.verify_password(older, "Correct-Horse-9")
