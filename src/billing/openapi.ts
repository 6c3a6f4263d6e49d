/** OpenAPI 3.1 fragment of the orders API (merged into /api/openapi.json by src/app/openapi.ts). */
import { envelope, errorResponses, jsonContent, type OpenApiFragment } from '../platform/http/openapi-fragment.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const security = [{ bearer: ['billing:read'] }];
const error = (description: string) => ({ description, content: jsonContent(ref('Error')) });

const amountProps = {
  gross: { type: 'string', pattern: '^-?[0-9]+\\.[0-9]{2}$', description: 'Decimal string' },
  discount: { type: 'string', pattern: '^-?[0-9]+\\.[0-9]{2}$' },
  net: { type: 'string', pattern: '^-?[0-9]+\\.[0-9]{2}$' },
  gross_minor: { type: 'integer', description: 'Minor units (øre, cent)' },
  discount_minor: { type: 'integer' },
  net_minor: { type: 'integer' },
};

export const billingOpenApi: OpenApiFragment = {
  tags: [{ name: 'Billing', description: 'Orders of insurers: a priced line per consultation under a deal (docs/billing.md)' }],
  paths: {
    '/api/billing/orders': {
      get: {
        tags: ['Billing'],
        summary: "The caller's insurer orders with their lines and totals",
        security,
        parameters: [
          { name: 'insurer_organization_id', in: 'query', schema: { type: 'string' } },
          { name: 'period', in: 'query', schema: { type: 'string', pattern: '^\\d{4}-\\d{2}$' }, description: 'Month (UTC) of the consultations' },
          { name: 'consultation_id', in: 'query', schema: { type: 'string' }, description: 'The order holding the line of this consultation' },
          { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
          { name: 'page_size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: {
          '200': { description: 'Orders', content: jsonContent({ type: 'object', properties: { data: { type: 'array', items: ref('BillingOrder') } } }) },
          ...errorResponses,
          '422': error('Invalid query parameter'),
        },
      },
    },
    '/api/billing/orders/{id}': {
      get: {
        tags: ['Billing'],
        summary: 'One order with its lines and totals',
        security,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'The order', content: jsonContent(envelope(ref('BillingOrder'))) }, ...errorResponses, '404': error('No such order of the caller') },
      },
    },
  },
  schemas: {
    BillingOrder: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        insurer_organization_id: { type: 'string' },
        period: { type: 'string' },
        currency: { type: 'string' },
        created_at: { type: 'string', format: 'date-time' },
        totals: { type: 'object', properties: amountProps, description: 'Sums of the lines (credits included)' },
        lines: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              kind: { enum: ['consultation', 'follow_up', 'credit'] },
              credits: { type: ['string', 'null'] },
              consultation_id: { type: 'string' },
              follow_up_of: { type: ['string', 'null'] },
              deal_id: { type: 'string' },
              service: { type: 'object' },
              quantity: { type: 'integer' },
              unit_price: { type: 'string' },
              discount_rule: { type: ['object', 'null'] },
              ...amountProps,
              reason: { type: ['string', 'null'] },
              created_at: { type: 'string', format: 'date-time' },
              fhir: { type: ['object', 'null'] },
            },
          },
        },
        fhir: { type: 'object', properties: { invoice: { type: 'string' }, recipient: { type: 'string' } } },
      },
    },
  },
};
