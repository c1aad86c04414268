// What a name a user typed may carry into a page, an API answer or an email.

/**
 * Drops the characters that change how the text around them is displayed but are not seen
 * themselves: bidi embeddings, overrides, isolates and marks, and zero-width characters.
 * With them a filename can show as something it is not: `invoice\u202Etxt.exe` displays as
 * "invoiceexe.txt". No name or filename needs them to be read.
 */
export const withoutInvisibleFormatting = (s: string) =>
  s.replace(/[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g, "");
