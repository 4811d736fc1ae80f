// `.hangGuard` for this target's suites (see GonkaTestTraits.HangGuard).
@_exported import GonkaTestTraits
