"""Business-rule refusals, each with a sentence a person understands."""


class DomainError(Exception):
    """A command was refused by a business rule."""


class InvalidInput(DomainError):
    """The command's values break a rule of the domain (HTTP 422).

    `loc` names the offending value inside the command's input, as field names and list
    indexes (`("answers", 0, "value")`), when the rule knows which value it is.
    """

    def __init__(self, message: str, *, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


class InvalidTransition(DomainError):
    """The command is not allowed in the record's current state (HTTP 409)."""


class NotFound(DomainError):
    """A record the command names does not exist (HTTP 404)."""


class AlreadyExists(DomainError):
    """The id the command wants to create is already taken (HTTP 409)."""


class ConcurrentChange(DomainError):
    """Another command changed the record at the same moment (HTTP 409)."""


class StoreRace(Exception):
    """The store changed under a unit of work while it was being recorded, in a way that
    deciding the command again resolves (another process stored a key it relied on); the
    unit recorded nothing."""
