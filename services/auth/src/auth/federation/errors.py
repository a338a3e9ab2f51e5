"""What can go wrong while talking to a provider, with a Russian message for the person and a short English
reason for the log (neither ever contains a token, a code or personal data)."""

from __future__ import annotations

UNAVAILABLE = "Не удалось связаться с сервисом входа. Попробуйте ещё раз через несколько минут."
BAD_ANSWER = "Сервис входа прислал ответ, которому мы не можем доверять, и вход не выполнен. Попробуйте ещё раз позже."
NOT_CONFIGURED = "Вход через этот сервис временно недоступен: его настройка не завершена."
STALE_FLOW = "Вход устарел или был начат в другом окне браузера. Начните вход заново."
DENIED = "Вход отменён: вы отказались входить или не разрешили передать нам свои данные."
PROVIDER_REFUSED = "Сервис входа сообщил об ошибке и не подтвердил вход. Попробуйте ещё раз."
UNKNOWN_PROVIDER = "Такого способа входа у нас нет."


class FederationError(Exception):
    """Ends a federated sign-in with an error page."""

    status = 400

    def __init__(self, reason: str, message: str = BAD_ANSWER, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        if status is not None:
            self.status = status


class ProviderError(FederationError):
    """The provider answered something we refuse (malformed, oversized, unsigned, an error) or not at all."""

    status = 502


class FlowError(FederationError):
    """The browser came back without a valid flow: state missing or different, expired, replayed."""

    status = 400
