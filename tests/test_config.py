import pytest

from adapter.config import ConfigError, load_settings, new_whsec, validate_whsec

from .conftest import PRODUCT_SECRET, REPO_ROOT, ROTATED_SECRET


def test_defaults_when_environment_is_empty():
    settings = load_settings({})
    assert str(settings.database) == "var/seatsync.db"
    assert settings.mappings == REPO_ROOT / "mappings"  # the shipped default, found from its package
    assert settings.product_secrets == ()
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert not settings.has_provider_keys


def test_several_product_secrets_for_rotation():
    settings = load_settings({"SEATSYNC_PRODUCT_SECRETS": f"{PRODUCT_SECRET}, {ROTATED_SECRET}"})
    assert settings.product_secrets == (PRODUCT_SECRET, ROTATED_SECRET)


@pytest.mark.parametrize(
    "environ, variable",
    [
        ({"SEATSYNC_PRODUCT_SECRETS": "secret"}, "SEATSYNC_PRODUCT_SECRETS"),
        ({"SEATSYNC_PRODUCT_SECRETS": "whsec_!!!"}, "SEATSYNC_PRODUCT_SECRETS"),
        ({"SEATSYNC_PRODUCT_SECRETS": "whsec_c2hvcnQ="}, "SEATSYNC_PRODUCT_SECRETS"),
        ({"STRIPE_API_BASE": "localhost:12111"}, "STRIPE_API_BASE"),
        ({"CHARGEBEE_SITE": "acme"}, "CHARGEBEE_API_KEY"),
        ({"CHARGEBEE_WEBHOOK_PASSWORD": "pw"}, "CHARGEBEE_WEBHOOK_USER"),
        ({"STRIPE_WEBHOOK_SECRETS": "abc"}, "STRIPE_WEBHOOK_SECRETS"),
        ({"SEATSYNC_OPS_TOKEN": "short"}, "SEATSYNC_OPS_TOKEN"),
        ({"SEATSYNC_PRODUCT_CALLBACK_URL": "http://127.0.0.1:9/cb"}, "SEATSYNC_PRODUCT_CALLBACK_SECRET"),
    ],
)
def test_malformed_setting_names_the_variable(environ, variable):
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ":")


def test_generated_secret_is_valid():
    validate_whsec("X", new_whsec())


def test_max_future_is_seconds_and_a_bad_value_names_the_variable():
    from adapter.config import ConfigError, load_settings

    assert load_settings({}).max_future == 300.0
    assert load_settings({"SEATSYNC_MAX_FUTURE": "60"}).max_future == 60.0
    for bad in ("soon", "-1", "nan", "1e12"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"SEATSYNC_MAX_FUTURE": bad})
        assert caught.value.variable == "SEATSYNC_MAX_FUTURE"


def test_unlinked_events_is_accept_or_reject():
    from adapter.config import ConfigError, load_settings

    assert load_settings({}).unlinked_events == "accept"
    assert load_settings({"SEATSYNC_UNLINKED_EVENTS": "Reject"}).unlinked_events == "reject"
    with pytest.raises(ConfigError) as caught:
        load_settings({"SEATSYNC_UNLINKED_EVENTS": "drop"})
    assert caught.value.variable == "SEATSYNC_UNLINKED_EVENTS"


def test_reconcile_interval_is_seconds_zero_is_off_and_a_bad_value_names_the_variable():
    assert load_settings({}).reconcile_interval == 3600.0
    assert load_settings({"SEATSYNC_RECONCILE_INTERVAL": "0"}).reconcile_interval == 0.0
    assert load_settings({"SEATSYNC_RECONCILE_INTERVAL": "900"}).reconcile_interval == 900.0
    for bad in ("hourly", "-1", "nan", "5", "99999999"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"SEATSYNC_RECONCILE_INTERVAL": bad})
        assert caught.value.variable == "SEATSYNC_RECONCILE_INTERVAL"
