/** A failed delivery attempt whose text is safe to store and log: status and error codes only, never an address. */
export class DeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryError';
  }
}
