from tests.response.conftest import infused, investigator  # noqa: F401 (fixtures)
from tests.subjects.conftest import consent, coordinator, protocol, screened  # noqa: F401 (fixtures)
