from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo study and the synthetic-study generator (DESIGN §3; issue 23): top of the house,
    it may import every app and no app imports it. No models; its commands are
    `load_demo_study` and `generate_synthetic_study`."""

    name = "demo"
    verbose_name = "demo"
