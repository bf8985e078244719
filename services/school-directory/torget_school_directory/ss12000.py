"""Code lists of SS 12000 version 2.1 that the directory reads and stores.

The values are those of the standard's OpenAPI file (components.schemas:
OrganisationTypeEnum, SchoolTypesEnum, GroupTypesEnum, DutyRole,
RelationTypesEnum, Person.securityMarking, Placement.schoolType,
Activity.activityType). A test compares them with that file.
"""

ORGANISATION_TYPES = (
    "Huvudman",
    "Verksamhetsområde",
    "Förvaltning",
    "Rektorsområde",
    "Skola",
    "Skolenhet",
    "Varumärke",
    "Bolag",
    "Övrigt",
)
SCHOOL_UNIT = "Skolenhet"

SCHOOL_TYPES = (
    "FS", "FKLASS", "FTH", "OPPFTH", "GR", "GRS", "TR", "SP", "SAM", "GY", "GYS",
    "VUX", "VUXSFI", "VUXGR", "VUXGY", "VUXSARGR", "VUXSARTR", "VUXSARGY", "SFI",
    "SARVUX", "SARVUXGR", "SARVUXGY", "KU", "YH", "FHS", "STF", "KKU", "HS", "ABU", "AU",
)  # fmt: skip

# An SS 12000 placement is the placement of a child in preschool or a leisure
# centre; pupils of the other school forms are enrolled (Person.enrolments).
PLACEMENT_SCHOOL_TYPES = ("FS", "FTH", "OPPFTH")

GROUP_TYPES = ("Undervisning", "Klass", "Mentor", "Provgrupp", "Schema", "Avdelning", "Personalgrupp", "Övrigt")

DUTY_ROLES = (
    "Rektor",
    "Lärare",
    "Förskollärare",
    "Barnskötare",
    "Bibliotekarie",
    "Lärarassistent",
    "Fritidspedagog",
    "Annan personal",
    "Studie- och yrkesvägledare",
    "Förstelärare",
    "Kurator",
    "Skolsköterska",
    "Skolläkare",
    "Skolpsykolog",
    "Speciallärare/specialpedagog",
    "Skoladministratör",
    "Övrig arbetsledning",
    "Övrig pedagogisk personal",
    "Förskolechef",
)
# Förskolechef is deprecated in 2.1 in favour of Rektor; both head a unit.
PRINCIPAL_DUTY_ROLES = ("Rektor", "Förskolechef")

RELATION_TYPES = ("Vårdnadshavare", "Annan ansvarig", "God man", "Utsedd behörig")
CUSTODY = "Vårdnadshavare"

SECURITY_MARKINGS = ("Ingen", "Sekretessmarkering", "Skyddad folkbokföring")
NO_SECURITY_MARKING = "Ingen"

PERSON_STATUSES = ("Aktiv", "Utvandrad", "Avliden")

ACTIVITY_TYPES = ("Undervisning", "Elevaktivitet", "Provaktivitet", "Läraraktivitet", "Övrigt")

PLACEMENT_REASONS = ("Omsorgsbehov", "Erbjuden tid", "Eget behov")

# The order of an import: each entity refers only to entities before it.
ENTITIES = ("organisations", "persons", "groups", "duties", "placements", "activities", "calendarEvents")

# /deletedEntities names its lists after the endpoints. The 2.1 OpenAPI file
# spells the activity list "activitites"; both spellings are read.
DELETED_ENTITY_KEYS = {
    "organisations": ("organisations",),
    "persons": ("persons",),
    "groups": ("groups",),
    "duties": ("duties",),
    "placements": ("placements",),
    "activities": ("activities", "activitites"),
    "calendarEvents": ("calendarEvents",),
}
