/**
 * The "Orders" sheet of the insurer report (src/consultations/report.ts): every order of the report's tenant (and
 * insurer, when the report names one) whose month overlaps the report range, one row per line (credits as negative
 * rows), then an "Order total" row holding the order's totals: the same recalculated sums the orders API shows.
 */
import type ExcelJS from 'exceljs';
import { minorToNumber } from '../lib/money.js';
import type { OrderWithLines } from './types.js';

const ORDERS_SHEET = 'Orders';
const ORDER_TOTAL_LABEL = 'Order total';

const ORDER_COLUMNS: { header: string; key: string; width: number }[] = [
  { header: 'Order id', key: 'order_id', width: 46 },
  { header: 'Insurer organization id', key: 'insurer', width: 24 },
  { header: 'Period', key: 'period', width: 9 },
  { header: 'Currency', key: 'currency', width: 9 },
  { header: 'Line', key: 'line_id', width: 42 },
  { header: 'Kind', key: 'kind', width: 12 },
  { header: 'Consultation id', key: 'consultation_id', width: 38 },
  { header: 'Deal id', key: 'deal_id', width: 20 },
  { header: 'Service', key: 'service', width: 20 },
  { header: 'Quantity', key: 'quantity', width: 9 },
  { header: 'Unit price', key: 'unit_price', width: 12 },
  { header: 'Gross', key: 'gross', width: 12 },
  { header: 'Discount', key: 'discount', width: 12 },
  { header: 'Net', key: 'net', width: 12 },
];

export function addOrdersSheet(wb: ExcelJS.Workbook, orders: OrderWithLines[]): number {
  const ws = wb.addWorksheet(ORDERS_SHEET);
  ws.columns = ORDER_COLUMNS;
  ws.getRow(1).font = { bold: true };
  ws.views = [{ state: 'frozen', ySplit: 1 }];
  for (const key of ['unit_price', 'gross', 'discount', 'net']) ws.getColumn(key).numFmt = '#,##0.00';
  let rows = 0;
  for (const { order, lines, totals } of orders) {
    const head = { order_id: order._id, insurer: order.insurer_organization_id, period: order.period, currency: order.currency };
    for (const l of lines) {
      ws.addRow({
        ...head,
        line_id: l._id,
        kind: l.kind,
        consultation_id: l.consultation_id,
        deal_id: l.deal_id,
        service: l.service.display ?? l.service.code,
        quantity: l.kind === 'credit' ? -l.quantity : l.quantity,
        unit_price: minorToNumber(l.unit_price_minor),
        gross: minorToNumber(l.gross_minor),
        discount: minorToNumber(l.discount_minor),
        net: minorToNumber(l.net_minor),
      });
      rows++;
    }
    const total = ws.addRow({
      ...head,
      line_id: ORDER_TOTAL_LABEL,
      gross: minorToNumber(totals.gross_minor),
      discount: minorToNumber(totals.discount_minor),
      net: minorToNumber(totals.net_minor),
    });
    total.font = { bold: true };
  }
  return rows;
}
