/**
 * The eHealth-style envelope of non-FHIR API answers: {"meta":{"code","url","type","request_id"},"data":…} and
 * {"meta":…,"error":{"type","message",["invalid":[…]]}}.
 */
import type { Request, Response } from 'express';

export function meta(req: Request, code: number, type: 'object' | 'list') {
  return { code, url: `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`, type, request_id: String(req.id ?? '') };
}

export function sendData(req: Request, res: Response, code: number, data: unknown, extra: Record<string, unknown> = {}): void {
  res.status(code).json({ meta: meta(req, code, Array.isArray(data) ? 'list' : 'object'), data, ...extra });
}

export function sendEnvelopeError(req: Request, res: Response, code: number, error: Record<string, unknown>): void {
  res.status(code).json({ meta: meta(req, code, 'object'), error });
}
