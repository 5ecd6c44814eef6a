export const API_PREFIX = '/api/v1';
export const poolPath = (pool: string): string => `${API_PREFIX}/pools/${encodeURIComponent(pool)}`;
export const imagePath = (pool: string, image: string): string =>
  `${poolPath(pool)}/images/${encodeURIComponent(image)}`;
