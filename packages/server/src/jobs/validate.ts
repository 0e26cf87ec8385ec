// The job rules live in @hoist/protocol, so the console checks its form with
// the same functions and messages as the API; the server re-exports them here.
export { CREATE_ERROR_CODES, type JobChanges, MODIFY_ERROR_CODES, sourceIdOf, validateCreateJob, validateModifyJob } from "@hoist/protocol";
