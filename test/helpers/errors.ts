// What a call was refused with, as tests compare it: the HoistError's stable
// code, "no error" when the call went through, and for anything else thrown a
// text that no code equals, so the comparison fails and shows what was thrown.
import { isHoistError } from "@hoist/protocol";

function codeOfThrown(e: unknown): string {
  return isHoistError(e) ? e.code : `not a HoistError: ${String(e)}`;
}

/** The code of the HoistError `fn` throws, or "no error". */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return codeOfThrown(e);
  }
  return "no error";
}

/** The code of the HoistError `work` (a promise, or a function that starts one) rejects with, or "no error". */
export async function codeOfAsync(work: Promise<unknown> | (() => Promise<unknown>)): Promise<string> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (e) {
    return codeOfThrown(e);
  }
  return "no error";
}
