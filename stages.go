package ssosetup

// Stage names, in the order a job runs them (SPEC §3). Task types are "sso:" + the stage name.
const (
	StageStart          = "start"
	StageDisable2FA     = "disable_2fa"
	StageAttachIdentity = "attach_identity"
	StageNewMembership  = "new_membership"
	StageAcceptInvite   = "accept_invite"
	StageSaveEvent      = "save_event"
	StageFinish         = "finish"
)

// Stages lists every stage in chain order.
var Stages = []string{
	StageStart, StageDisable2FA, StageAttachIdentity, StageNewMembership, StageAcceptInvite, StageSaveEvent,
	StageFinish,
}

// NextStage returns the stage after stage, or "" after the last one.
func NextStage(stage string) string {
	for i, s := range Stages {
		if s == stage && i+1 < len(Stages) {
			return Stages[i+1]
		}
	}
	return ""
}

// IsStage reports whether name is one of Stages.
func IsStage(name string) bool {
	for _, s := range Stages {
		if s == name {
			return true
		}
	}
	return false
}

// Job statuses (SPEC §5) and stage record statuses (SPEC §7.1).
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"

	StageDone    = "done"
	StageSkipped = "skipped"
	StageFailed  = "failed"
)

// Statuses are the statuses a job can have, in the order a job moves through them.
var Statuses = []string{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled}

// IsFinished reports whether a job of status has ended: succeeded, failed or cancelled (SPEC §2).
func IsFinished(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusCancelled
}

// Flows (SPEC §2).
const (
	FlowSetup = "setup"
	FlowLink  = "link"
)

// Messages a job adds to its result (SPEC §3.3, §3.7).
const (
	MessageLinked     = "You have successfully linked your account to your SSO provider."
	MessageConfigured = "SSO has been configured for your organization and any existing members have been sent an email to link their accounts."
)

// SuccessRedirect is where the web tier sends the user after a job succeeded (SPEC §3.7).
func SuccessRedirect(flow, slug string) string {
	if flow == FlowLink {
		return "/organizations/" + slug + "/issues/"
	}
	return "/settings/" + slug + "/auth/"
}

// FailureRedirect is where the web tier sends the user after a job failed (SPEC §3.9); "/" when the
// organization is unknown.
func FailureRedirect(flow, slug string) string {
	switch {
	case slug == "":
		return "/"
	case flow == FlowLink:
		return "/auth/login/" + slug + "/"
	default:
		return "/settings/" + slug + "/auth/"
	}
}
