// Successful results: text for the model, optionally the same result as structured JSON.

export const Output = {
  /** Text only. @param {string} text */
  text(text) {
    return { text: String(text), structured: undefined, content: [] };
  },

  /**
   * A one-line summary followed by the value as compact JSON; the value is also the structured
   * content. A non-object value is wrapped as {result: value} (MCP wants an object).
   * @param {string} summary @param {unknown} value
   */
  json(summary, value) {
    const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : { result: value };
    const json = JSON.stringify(obj);
    return { text: `${summary}\n${json}`, structured: json, content: [] };
  },
};
