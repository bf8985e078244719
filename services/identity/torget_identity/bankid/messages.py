"""The user messages for BankID orders, chosen by the RFA codes of BankID's guidelines.

BankID's Relying Party guidelines name a recommended user message (RFA1 to
RFA23) for each status, hint code and error code. The texts below carry the
same instruction, worded for this service, in Swedish and English.
"""

MESSAGES = {
    "RFA1": {
        "sv": "Starta BankID-appen.",
        "en": "Start the BankID app.",
    },
    "RFA3": {
        "sv": "Inloggningen avbröts. Försök igen.",
        "en": "The login was cancelled. Please try again.",
    },
    "RFA4": {
        "sv": "Det pågår redan en inloggning eller underskrift för det här personnumret. Försök igen.",
        "en": "A login or signing for this personal identity number is already in progress. Please try again.",
    },
    "RFA5": {
        "sv": "Ett internt fel uppstod. Försök igen.",
        "en": "An internal error occurred. Please try again.",
    },
    "RFA6": {
        "sv": "Inloggningen avbröts.",
        "en": "The login was cancelled.",
    },
    "RFA8": {
        "sv": (
            "BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. "
            "Om du inte har något giltigt BankID kan du skaffa ett hos din bank. Försök sedan igen."
        ),
        "en": (
            "The BankID app does not respond. Check that it is started and that you are connected to the "
            "internet. If you have no valid BankID, you can get one from your bank. Then try again."
        ),
    },
    "RFA9": {
        "sv": "Skriv in din säkerhetskod i BankID-appen och välj Identifiera.",
        "en": "Enter your security code in the BankID app and select Identify.",
    },
    "RFA13": {
        "sv": "Försöker starta BankID-appen.",
        "en": "Trying to start the BankID app.",
    },
    "RFA14": {
        "sv": (
            "Söker efter BankID, det kan ta en liten stund. Om det har gått några sekunder och inget BankID "
            "har hittats har du troligen inget BankID som kan användas för inloggningen på den här enheten. "
            "Du kan skaffa ett hos din bank."
        ),
        "en": (
            "Searching for BankID, which may take a moment. If a few seconds have passed and no BankID has "
            "been found, you probably have no BankID on this device that can be used for this login. "
            "You can get one from your bank."
        ),
    },
    "RFA16": {
        "sv": "Det BankID du försöker använda är spärrat eller för gammalt. Använd ett annat BankID eller skaffa ett nytt hos din bank.",
        "en": "The BankID you are trying to use is blocked or too old. Use another BankID or get a new one from your bank.",
    },
    "RFA17": {
        "sv": (
            "Det gick inte att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. Kontrollera att "
            "BankID-appen är uppdaterad. Om du inte har BankID-appen installerar du den och skaffar ett BankID hos din bank."
        ),
        "en": (
            "The QR code could not be scanned. Start the BankID app and scan the QR code. Check that the "
            "BankID app is up to date. If you do not have the BankID app, install it and get a BankID from your bank."
        ),
    },
    "RFA21": {
        "sv": "Inloggning pågår.",
        "en": "Login in progress.",
    },
    "RFA22": {
        "sv": "Okänt fel. Försök igen.",
        "en": "Unknown error. Please try again.",
    },
    "RFA23": {
        "sv": "Fotografera och läs av din id-handling med BankID-appen.",
        "en": "Photograph and read your identity document with the BankID app.",
    },
}

# Status "pending": hint code -> RFA code. The QR flow shows RFA1 where the
# same-device flow (autostart) shows RFA13 for outstandingTransaction.
PENDING_HINTS = {
    "outstandingTransaction": "RFA13",
    "noClient": "RFA1",
    "started": "RFA14",
    "userSign": "RFA9",
    "userMobileSign": "RFA9",
    "userCallConfirm": "RFA21",
    "processingPassport": "RFA23",
}
PENDING_HINTS_QR = {**PENDING_HINTS, "outstandingTransaction": "RFA1"}

# Status "failed": hint code -> RFA code.
FAILED_HINTS = {
    "expiredTransaction": "RFA8",
    "certificateErr": "RFA16",
    "userCancel": "RFA6",
    "cancelled": "RFA3",
    "startFailed": "RFA17",
    "userDeclinedCall": "RFA6",
    "notSupportedByUserApp": "RFA22",
    "transactionRiskBlocked": "RFA22",
}

# Error codes of a failed HTTP call -> RFA code.
ERROR_CODES = {
    "alreadyInProgress": "RFA4",
    "requestTimeout": "RFA5",
    "maintenance": "RFA5",
    "internalError": "RFA5",
}


def rfa_code(status: str | None = None, hint_code: str | None = None, error_code: str | None = None, qr: bool = False) -> str:
    """Return the RFA code for an order's status and hint code, or for an error code."""
    if error_code is not None:
        return ERROR_CODES.get(error_code, "RFA22")
    if status == "pending":
        return (PENDING_HINTS_QR if qr else PENDING_HINTS).get(hint_code, "RFA21")
    if status == "failed":
        return FAILED_HINTS.get(hint_code, "RFA22")
    return "RFA22"


def user_message(rfa: str, language: str = "sv") -> str:
    """Return the text of ``rfa`` in ``language``; Swedish for any language but English."""
    texts = MESSAGES.get(rfa, MESSAGES["RFA22"])
    return texts["en"] if language == "en" else texts["sv"]
