/** A concern's part of the OpenAPI document: its paths and the JSON Schemas they reference. */
export interface OpenApiFragment {
  tags?: { name: string; description: string }[];
  paths: Record<string, Record<string, unknown>>;
  schemas?: Record<string, unknown>;
}

/** The standard answers shared by the fragments. */
export const errorResponses = {
  401: { description: 'No bearer token, or a bad, expired or foreign-signed one', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  403: { description: 'The token lacks a scope', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
};

/** The eHealth success envelope around a route's data: {meta, data}. */
export function envelope(data: unknown) {
  return { type: 'object', properties: { meta: { $ref: '#/components/schemas/Meta' }, data }, required: ['meta', 'data'] };
}

export function jsonContent(schema: unknown) {
  return { 'application/json': { schema } };
}

/** Query parameters from a JSON Schema object (the same schema the route validates with). */
export function queryParameters(schema: { properties: Record<string, unknown>; required?: readonly string[] }) {
  return Object.entries(schema.properties).map(([name, s]) => ({
    name,
    in: 'query',
    required: schema.required?.includes(name) ?? false,
    schema: s,
  }));
}
