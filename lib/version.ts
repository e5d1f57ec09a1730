/** kiln's version string. */
export const VERSION = "0.1.0";
