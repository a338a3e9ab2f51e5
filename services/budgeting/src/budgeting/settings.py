"""Settings of the budgeting service, from ``BUDGETING_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class BudgetingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BUDGETING_", extra="ignore", frozen=True)

    service_name: str = "budgeting"
    db_schema: str = "budgeting"
    database_url: str = "postgresql+asyncpg://gorod_budgeting:gorod_budgeting@127.0.0.1:5432/gorod"
    http_port: int = 8005
