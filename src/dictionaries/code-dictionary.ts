/** The code lists as a domain service uses them (the dictionary service satisfies it). */
export interface CodeDictionary {
  isValidCode(dictionary: string, code: string): Promise<boolean>;
  getCode?(dictionary: string, code: string): Promise<{ code: string; display: Record<string, string>; active: boolean } | undefined>;
}
