// Placeholder: the real handler lands with the core mail path.
export async function handler(_event: unknown): Promise<void> {}
