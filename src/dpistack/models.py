"""Imports every block's tables so that Alembic sees one metadata."""

from dpistack.core import outbox as core_outbox  # noqa: F401
from dpistack.governance import models as governance_models  # noqa: F401
from dpistack.transparency import models as transparency_models  # noqa: F401
from dpistack.identity import models as identity_models  # noqa: F401,E402
from dpistack.payments import models as payments_models  # noqa: F401,E402
from dpistack.exchange import models as exchange_models  # noqa: F401,E402
from dpistack.consent import models as consent_models  # noqa: F401,E402
from dpistack.credentials import models as credentials_models  # noqa: F401,E402
from dpistack.services import models as services_models  # noqa: F401,E402
