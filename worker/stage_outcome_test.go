package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ssosetup/ssosetup"
)

func TestStageOutcome(t *testing.T) {
	for _, tc := range []struct {
		out  ssosetup.Outcome
		err  error
		want string
	}{
		{ssosetup.Outcome{Status: ssosetup.StageDone}, nil, "done"},
		{ssosetup.Outcome{Status: ssosetup.StageSkipped}, nil, "skipped"},
		{ssosetup.Outcome{Status: ssosetup.StageFailed}, ssosetup.Fail(ssosetup.CodeNotAMember), "failed"},
		{ssosetup.Outcome{}, fmt.Errorf("run: %w", ssosetup.ErrStageDone), "already_done"},
		{ssosetup.Outcome{}, ssosetup.ErrJobFinished, "nothing_to_do"},
		{ssosetup.Outcome{}, ssosetup.ErrStaleRun, "nothing_to_do"},
		{ssosetup.Outcome{}, errors.New("connection reset"), "error"},
	} {
		if got := stageOutcome(tc.out, tc.err); got != tc.want {
			t.Errorf("stageOutcome(%q, %v) = %q, want %q", tc.out.Status, tc.err, got, tc.want)
		}
	}
}
