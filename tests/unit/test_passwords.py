from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.passwords import hash_password, is_acceptable_password, verify_password

SALT = bytes(range(16))


def test_password_verifies_when_it_is_the_one_hashed():
    encoded = hash_password("demo-pile-password-16", SALT, iterations=1000)
    assert verify_password("demo-pile-password-16", encoded)
    assert "demo-pile-password-16" not in encoded


def test_password_is_refused_when_one_character_differs():
    encoded = hash_password("demo-pile-password-16", SALT, iterations=1000)
    assert not verify_password("demo-pile-password-17", encoded)


@settings(max_examples=50)
@given(st.text(max_size=60))
def test_garbage_hash_never_verifies_when_stored_value_is_corrupt(garbage):
    assert not verify_password("demo-pile-password-16", garbage)


def test_acceptable_password_when_16_to_40_printable_characters():
    assert is_acceptable_password("a" * 16)
    assert is_acceptable_password("a" * 40)
    assert not is_acceptable_password("a" * 15)
    assert not is_acceptable_password("a" * 41)
    assert not is_acceptable_password("a" * 15 + " ")
    assert not is_acceptable_password("密" * 16)
