import { describe, expect, it } from "vitest";
import { plainText } from "./images";

describe("the boot console log as shown", () => {
  it("drops terminal control sequences and carriage returns, keeping the text", () => {
    const raw = "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\r\n\x1b[0;30;47mWelcome to GRUB!\x1b[0m\r\n[  \x1b[0;32mOK\x1b[0m  ] Reached target multi-user.target\r\n";
    expect(plainText(raw)).toBe("SeaBIOS\nWelcome to GRUB!\n[  OK  ] Reached target multi-user.target\n");
  });
});
