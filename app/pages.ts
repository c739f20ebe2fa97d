/** Every item of a paged listing, page after page (the cursor is the last id of a page). */
export async function allPages<T>(
  list: (q: {
    labels: Record<string, string>;
    limit: number;
    after?: string;
  }) => Promise<{ items: T[]; next?: string }>,
  labels: Record<string, string>,
): Promise<T[]> {
  const out: T[] = [];
  let after: string | undefined;
  do {
    const page = await list({ labels, limit: 1000, ...(after === undefined ? {} : { after }) });
    out.push(...page.items);
    after = page.next;
  } while (after);
  return out;
}
