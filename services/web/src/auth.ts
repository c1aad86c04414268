import type { RequestHandler, Response } from "express";
import {
  type Directory,
  ForbiddenError,
  type Group,
  NotFoundError,
  UnauthorizedError,
  type User,
  addLogContext,
  tokenHash,
} from "@herald/core";

// Bearer tokens resolved through the Directory, unless revoked (TokenRevoked in the log);
// group roles checked per route.

export function authenticate(directory: Directory, isRevoked: (tokenHash: string) => boolean): RequestHandler {
  return (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "");
    const hash = match ? tokenHash(match[1]!) : undefined;
    const user = hash ? directory.userByTokenHash(hash) : undefined;
    if (!user || !hash) throw new UnauthorizedError();
    if (isRevoked(hash)) throw new UnauthorizedError("This token has been revoked.");
    res.locals.user = user;
    res.locals.tokenHash = hash;
    addLogContext({ userId: user.id });
    next();
  };
}

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
