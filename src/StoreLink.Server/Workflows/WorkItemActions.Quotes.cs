using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

// Extra work or a quote with photos, which the customer approves or declines from the card.
public sealed partial class WorkItemActions
{
    /// <summary>Extra work or a quote with photos: the customer approves or declines it from the card.</summary>
    public async Task<WorkItemRequestDto> CreateRequestAsync(CurrentUser user, string workItemId, CreateRequestRequest body, CancellationToken ct)
    {
        var item = await WritableAsync(user, workItemId, ct);
        var request = await NewRequestAsync(user, item, body, ct);
        var definition = await DefinitionAsync(item, ct);
        await CommitAsync(user, item, new Change("request_created", new { request = request.ToDto() }, Card: true, Urgent: definition.State(item.State)!.Urgent), async (c, t) =>
        {
            await InsertRequestAsync(c, t, request);
            return true;
        }, ct);
        return request.ToDto();
    }

    /// <summary>A request checked and ready to insert: staff only, a title, a price, up to 9 photos the caller uploaded.</summary>
    private async Task<RequestRow> NewRequestAsync(CurrentUser user, WorkItemRow item, CreateRequestRequest body, CancellationToken ct)
    {
        Access.RequireStaff(user);
        var v = new Validation();
        var title = v.Required("title", body.Title, 100);
        if (!decimal.TryParse(body.Price, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var price) || price < 0 || price > 1_000_000)
            v.Add("price", "Required: an amount such as \"30\" or \"899.00\".");
        var currency = body.Currency ?? "CNY";
        if (currency.Length != 3 || !currency.All(char.IsAsciiLetterUpper))
            v.Add("currency", "An ISO 4217 code such as CNY.");
        if (body.AttachmentIds is { Count: > 9 })
            v.Add("attachment_ids", "At most 9 photos.");
        v.ThrowIfAny();
        var photos = await CheckAttachmentsAsync(user, body.AttachmentIds, ct);
        await RequireOwnPhotosAsync(user, photos, ct);
        return new RequestRow
        {
            Id = Ids.New("req", clock), WorkItemId = item.Id, Title = title, Price = body.Price!, Currency = currency, AttachmentIds = JsonSerializer.Serialize(photos),
            CreatedBy = user.Id, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
    }

    private static Task InsertRequestAsync(DbConnection c, DbTransaction t, RequestRow request) =>
        c.ExecuteAsync($"""
            INSERT INTO work_item_requests ({RequestRow.Columns}) VALUES (@Id, @WorkItemId, @Title, @Price, @Currency, @AttachmentIds, 'pending', @CreatedBy, @CreatedAt, NULL)
            """, request, t);
}
