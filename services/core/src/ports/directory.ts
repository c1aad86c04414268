export type User = { id: string; email: string; name: string };
export type Group = { id: string; name: string; admins: string[]; members: string[] };

export interface Directory {
  /** The user a bearer token belongs to, looked up by its hash (tokenHash). */
  userByTokenHash(hash: string): User | undefined;
  user(id: string): User | undefined;
  /** The user the identity provider names by this `sub` (the seed's `subject`), if one is mapped. */
  userBySubject(subject: string): User | undefined;
  /** The user with this email address, compared case-insensitively. */
  userByEmail(email: string): User | undefined;
  group(id: string): Group | undefined;
  /** Every user. */
  users(): User[];
  /** Every group. */
  groups(): Group[];
}
