"""`dpi portal setup`: the portal is onboarded through governance and its OIDC client is
registered; running it again changes nothing and still succeeds."""

from __future__ import annotations

from typer.testing import CliRunner

from dpistack.cli import app
from dpistack.core.config import Settings
from dpistack.core.platform import Platform
from dpistack.governance import service as governance

runner = CliRunner()


def test_portal_setup_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("DPI_PUBLIC_URL", "http://127.0.0.1:8765")
    monkeypatch.delenv("DPI_DATABASE_URL", raising=False)
    for _ in range(2):
        result = runner.invoke(app, ["portal", "setup", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "The portal is set up" in result.output
    platform = Platform.open(Settings(data_dir=tmp_path, public_url="http://127.0.0.1:8765"))
    try:
        with platform.db.uow() as s:
            portal = governance.get_participant(s, "citizen-portal")
            assert portal.status == "active" and portal.roles == ["relying-party"]
            grants = [g for g in governance.list_grants(s, "citizen-portal") if g.status == "active"]
            assert sorted(g.category for g in grants) == [
                "credential-national-id-sd-jwt", "kyc-name", "payment-aliases", "resident-self-service"]
            assert governance.check(s) == []
    finally:
        platform.close()
    assert (tmp_path / "credentials" / "citizen-portal-oidc-client.jwk").exists()
