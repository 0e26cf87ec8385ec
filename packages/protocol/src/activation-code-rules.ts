// The rules of a new activation code (SMC's console: 1–1000 uses, 1–90 days),
// shared by the server's API and the console's import form.
import { HoistError } from "./errors";
import { ACTIVATION_CODE_LIMITS } from "./control-plane";

export interface NewActivationCode {
  uses: number;
  validityDays: number;
  description: string;
}

/** Checks the ranges SMC's console allows; the API answers 400 with these codes. */
export function validateNewCode(input: { uses?: unknown; validityDays?: unknown; description?: unknown }): NewActivationCode {
  const L = ACTIVATION_CODE_LIMITS;
  const uses = input.uses === undefined ? L.uses.default : input.uses;
  if (typeof uses !== "number" || !Number.isInteger(uses) || uses < L.uses.min || uses > L.uses.max) {
    throw new HoistError("ActivationCode.InvalidUses", `uses must be a whole number from ${L.uses.min} to ${L.uses.max} (got ${JSON.stringify(uses)})`, {
      fix: `Pick how many sources may import with this code, ${L.uses.min}–${L.uses.max}; the default is ${L.uses.default}.`,
    });
  }
  const validityDays = input.validityDays === undefined ? L.validityDays.default : input.validityDays;
  if (typeof validityDays !== "number" || !Number.isInteger(validityDays) || validityDays < L.validityDays.min || validityDays > L.validityDays.max) {
    throw new HoistError("ActivationCode.InvalidValidity", `validityDays must be a whole number from ${L.validityDays.min} to ${L.validityDays.max} (got ${JSON.stringify(validityDays)})`, {
      fix: `Pick how many days the code stays valid, ${L.validityDays.min}–${L.validityDays.max}; the default is ${L.validityDays.default}.`,
    });
  }
  const description = input.description === undefined ? "" : input.description;
  if (typeof description !== "string" || description.length > L.descriptionMax) {
    throw new HoistError("ActivationCode.InvalidDescription", `description must be text of at most ${L.descriptionMax} characters`, { fix: "Shorten the description." });
  }
  return { uses, validityDays, description };
}
