package worker

import (
	"github.com/hibiken/asynq"

	"github.com/ssosetup/ssosetup"
	"github.com/ssosetup/ssosetup/tasks"
)

// mux registers every handler under its task type, behind the logging middleware.
func (w *Worker) mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.trackTasks)
	mux.Handle(tasks.StageType(ssosetup.StageStart), w.stage(ssosetup.StageStart, w.store.Start))
	mux.Handle(tasks.StageType(ssosetup.StageDisable2FA), w.stage(ssosetup.StageDisable2FA, w.disable2FA))
	mux.Handle(tasks.StageType(ssosetup.StageAttachIdentity), w.stage(ssosetup.StageAttachIdentity, w.store.AttachIdentity))
	mux.Handle(tasks.StageType(ssosetup.StageNewMembership), w.stage(ssosetup.StageNewMembership, w.store.NewMembership))
	mux.Handle(tasks.StageType(ssosetup.StageAcceptInvite), w.stage(ssosetup.StageAcceptInvite, w.acceptInvite))
	mux.Handle(tasks.StageType(ssosetup.StageSaveEvent), w.stage(ssosetup.StageSaveEvent, w.saveEvent))
	mux.Handle(tasks.StageType(ssosetup.StageFinish), w.stage(ssosetup.StageFinish, w.finish))
	mux.HandleFunc(tasks.TypeEmailMissingLinks, w.emailMissingLinks)
	return mux
}
