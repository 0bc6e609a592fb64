using System.Text.Json;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Work items and everything staff, integrations and customers do to them. Every change is one transaction that
/// also appends to the timeline and schedules the customer's card (see <see cref="Notifier"/>); followers, the
/// assignee and the store's managers get a <c>work_item</c> push once it has committed.
/// </summary>
public sealed partial class WorkItemActions(Db db, Access access, Templates templates, Notifier notifier, SystemPosts posts, Integrations.Outbox outbox, IEventBus bus,
    Integrations.ConnectorCommands commands, TimeProvider clock)
{
    public const int MaxFieldsBytes = 16_384;
    public static readonly string[] Priorities = ["low", "normal", "high", "urgent"];

    /// <summary>Staff of the item's store, or an API key with <c>work_items:write</c>; customers act through <see cref="ActAsync"/>.</summary>
    private async Task<WorkItemRow> WritableAsync(CurrentUser user, string workItemId, CancellationToken ct)
    {
        var item = await access.WorkItemAsync(user, workItemId, ct);
        if (user.IsCustomer)
            throw ApiException.Forbidden("Customers act from the card (POST /v1/work-items/{id}/actions).");
        user.RequirePermission(Permissions.WorkItemsWrite);
        return item;
    }

    private async Task<StaffRow> StaffOfStoreAsync(CurrentUser user, string storeId, string staffId, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, staffId, ct);
        var works = await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM staff_roles WHERE staff_id = @staffId AND (store_id = @storeId OR role = 'org_admin')",
            new { staffId = staff.Id, storeId }, ct);
        if (works == 0 || staff.DisabledAt is not null)
            throw ApiException.Invalid($"assignee_id: {staff.Name} does not work in this store.");
        return staff;
    }

    private async Task<List<string>> CheckAttachmentsAsync(CurrentUser user, List<string>? ids, CancellationToken ct)
    {
        var list = (ids ?? []).Distinct().ToList();
        if (list.Count > 20)
            throw ApiException.Invalid("attachment_ids: at most 20.");
        foreach (var id in list)
            await access.AttachmentAsync(user, id ?? "", ct);
        return list;
    }

    /// <summary>Photos posted in the caller's name (a message references only what its sender uploaded).</summary>
    private async Task RequireOwnPhotosAsync(CurrentUser user, List<string> photos, CancellationToken ct)
    {
        if (photos.Count > 0 && (await db.QueryAsync<string>($"SELECT uploader_id FROM attachments WHERE {db.Dialect.In("id", "@photos")}", new { photos }, ct))
                .Any(u => u != user.Id))
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["attachment_ids"] = ["Photos you uploaded."] });
    }

    private static Dictionary<string, JsonElement> CheckFields(Validation v, Dictionary<string, JsonElement>? changes, Dictionary<string, JsonElement> fields)
    {
        foreach (var (key, value) in changes ?? [])
        {
            if (key.Length is 0 or > 40)
                v.Add("fields", "Field names are 1 to 40 characters.");
            else if (value.ValueKind == JsonValueKind.Null)
                fields.Remove(key);
            else
            {
                v.Shallow("fields", value);
                fields[key] = value;
            }
        }
        if (JsonSerializer.Serialize(fields).Length > MaxFieldsBytes)
            v.Add("fields", $"At most {MaxFieldsBytes} bytes of fields.");
        return fields;
    }

    private static string Shorten(string text, int max)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= max ? line : line[..max] + "…";
    }
}
