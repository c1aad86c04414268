import type { Response } from "express";
import { type Directory, ForbiddenError, type Group, NotFoundError, type User } from "@herald/core";

// Who is asking (set by authentication: a bearer token, a JWT access token or the session
// cookie) and what they may do in a group. Roles are read from the Directory on every request,
// never from a credential, so a change of membership applies at once.

export const currentUser = (res: Response): User => res.locals.user as User;

export type Role = "member" | "admin";

/** The group, if it exists and the user has the role in it (admins are members too). */
export function requireGroupRole(directory: Directory, groupId: string, user: User, role: Role): Group {
  const group = directory.group(groupId);
  if (!group) throw new NotFoundError(`No group ${groupId}.`);
  const isAdmin = group.admins.includes(user.id);
  const allowed = role === "admin" ? isAdmin : isAdmin || group.members.includes(user.id);
  if (!allowed)
    throw new ForbiddenError(`You are not ${role === "admin" ? "an admin" : "a member"} of group ${groupId}.`);
  return group;
}
