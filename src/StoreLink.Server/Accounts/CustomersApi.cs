using System.Globalization;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public sealed class CustomerRow
{
    private const string Columns = "id, org_id, external_id, name, phone, vip_level, attributes, visitor_store_id, created_at, updated_at";
    public const string SelectById = $"SELECT {Columns} FROM customers WHERE id = @id";
    public const string SelectByExternalId = $"SELECT {Columns} FROM customers WHERE org_id = @orgId AND external_id = @externalId";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string? ExternalId { get; set; }
    public string? Name { get; set; }
    public string? Phone { get; set; }
    public int VipLevel { get; set; }
    public string Attributes { get; set; } = "{}";
    public string? VisitorStoreId { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public CustomerDto ToDto(IReadOnlyList<PurchaseDto>? purchases = null) => new(
        Id, OrgId, ExternalId, Name, Phone, VipLevel, VisitorStoreId is not null,
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Attributes) ?? [], purchases,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt));
}

public static class CustomerNames
{
    /// <summary>A customer's name; one without a name is a visitor with the end of the id (访客 1a2b, Visitor 1a2b).</summary>
    public static string Display(string id, string? name, string language) =>
        string.IsNullOrWhiteSpace(name) ? Texts.Get(language, "visitor_name", ("suffix", id[^4..])) : name;
}

public static class CustomersApi
{
    public static void MapCustomers(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/customers").RequireAuthorization().WithTags("Customers");
        group.MapGet("/", SearchAsync);
        group.MapGet("/{id}", async (string id, CurrentUser user, Access access, CustomerActions actions, CancellationToken ct) =>
        {
            var customer = await access.CustomerAsync(user, id, ct);
            return TypedResults.Ok(customer.ToDto(await actions.PurchasesAsync(customer.Id, ct)));
        });
        group.MapPost("/", UpsertAsync).WithIdempotency();
        // The widget tells the server the customer's language; what the server writes to them follows it.
        app.MapPut("/v1/me/language", async (LanguageRequest body, CurrentUser user, CustomerActions actions, CancellationToken ct) =>
            TypedResults.Ok(new LanguageRequest(await actions.SetLanguageAsync(user, body.Language, ct)))).RequireAuthorization().WithTags("Customers");
    }

    private static async Task<Ok<CustomerDto[]>> SearchAsync(CurrentUser user, Db db, string? q, int? limit, CancellationToken ct)
    {
        if (user.IsCustomer)
            throw ApiException.Forbidden("Customers cannot list customers.");
        user.RequirePermission(Permissions.CustomersRead);
        var take = Math.Clamp(limit ?? 50, 1, 200);
        var pattern = string.IsNullOrWhiteSpace(q) ? null : "%" + q.Trim().Replace("%", "").Replace("_", "") + "%";
        var where = pattern is null ? "" :
            $"AND ({db.Dialect.ILike("name", "@pattern")} OR phone LIKE @pattern OR external_id = @exact)";
        var rows = await db.QueryAsync<CustomerRow>($"""
            SELECT id, org_id, external_id, name, phone, vip_level, attributes, visitor_store_id, created_at, updated_at
            FROM customers WHERE org_id = @orgId {where}
            ORDER BY updated_at DESC, id LIMIT @take
            """, new { orgId = user.OrgId, pattern, exact = q?.Trim(), take }, ct);
        return TypedResults.Ok(rows.Select(r => r.ToDto()).ToArray());
    }

    private static async Task<Results<Created<CustomerDto>, Ok<CustomerDto>>> UpsertAsync(
        UpsertCustomerRequest body, CurrentUser user, CustomerActions actions, CancellationToken ct)
    {
        var (customer, created) = await actions.UpsertAsync(user, body, ct);
        return created ? TypedResults.Created($"/v1/customers/{customer.Id}", customer) : TypedResults.Ok(customer);
    }
}

/// <summary><c>PUT /v1/me/language</c> (customers): <c>zh-CN</c> or <c>en</c>.</summary>
public sealed record LanguageRequest(string? Language);

public sealed class CustomerActions(Db db, TimeProvider clock)
{
    /// <summary>Keeps the customer's language in <c>attributes.language</c> (where the store's system may set it too).</summary>
    public async Task<string> SetLanguageAsync(CurrentUser user, string? language, CancellationToken ct)
    {
        if (!user.IsCustomer)
            throw ApiException.Forbidden("Customers set their language here; the console keeps its own.");
        var normalized = Texts.Normalize(language);
        if (normalized is null)
            throw new ApiException(ErrorCodes.InvalidRequest, "The request is not valid.",
                new Dictionary<string, string[]> { ["language"] = [$"One of {string.Join(", ", Texts.Languages)}."] });
        await db.InTransactionAsync(async (c, t) =>
        {
            var attributes = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(
                await c.QuerySingleAsync<string>("SELECT attributes FROM customers WHERE id = @id", new { id = user.Id }, t)) ?? [];
            attributes["language"] = JsonSerializer.SerializeToElement(normalized);
            await c.ExecuteAsync("UPDATE customers SET attributes = @attributes, updated_at = @now WHERE id = @id",
                new { attributes = JsonSerializer.Serialize(attributes), now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = user.Id }, t);
        }, ct);
        return normalized;
    }

    private const string UpsertSql = """
        INSERT INTO customers (id, org_id, external_id, name, phone, vip_level, attributes, created_at, updated_at)
        VALUES (@id, @orgId, @externalId, @name, @phone, COALESCE(@vip, 0), COALESCE(@attributes, '{}'), @now, @now)
        ON CONFLICT (org_id, external_id) DO UPDATE SET
            name = COALESCE(excluded.name, customers.name),
            phone = COALESCE(excluded.phone, customers.phone),
            vip_level = CASE WHEN @vip IS NULL THEN customers.vip_level ELSE excluded.vip_level END,
            attributes = CASE WHEN @attributes IS NULL THEN customers.attributes ELSE excluded.attributes END,
            updated_at = excluded.updated_at
        RETURNING id, created_at
        """;

    private const string UpsertPurchaseSql = """
        INSERT INTO customer_purchases (customer_id, order_no, store_id, item, amount, currency, purchased_at)
        VALUES (@customerId, @OrderNo, @StoreId, @Item, @Amount, @Currency, @purchasedAt)
        ON CONFLICT (customer_id, order_no) DO UPDATE SET
            store_id = excluded.store_id, item = excluded.item, amount = excluded.amount,
            currency = excluded.currency, purchased_at = excluded.purchased_at
        """;

    public async Task<IReadOnlyList<PurchaseDto>> PurchasesAsync(string customerId, CancellationToken ct) =>
        (await db.QueryAsync<(string OrderNo, string? StoreId, string Item, string Amount, string Currency, long PurchasedAt)>("""
            SELECT order_no, store_id, item, amount, currency, purchased_at FROM customer_purchases
            WHERE customer_id = @customerId ORDER BY purchased_at DESC, order_no
            """, new { customerId }, ct))
        .Select(p => new PurchaseDto(p.OrderNo, p.StoreId, p.Item, p.Amount, p.Currency, DateTimeOffset.FromUnixTimeMilliseconds(p.PurchasedAt)))
        .ToList();

    /// <summary>Creates or updates the customer with this external id; members left out keep their values.</summary>
    /// <param name="gate">Runs first in the write's transaction (a connector's ordering check); throwing leaves everything as it was.</param>
    public async Task<(CustomerDto Customer, bool Created)> UpsertAsync(CurrentUser user, UpsertCustomerRequest body, CancellationToken ct,
        Func<System.Data.Common.DbConnection, System.Data.Common.DbTransaction, Task>? gate = null)
    {
        if (!user.IsApiClient && !user.IsOrgAdmin && !user.Roles.Any(r => r.Role == Roles.Manager))
            throw ApiException.Forbidden("Only managers, organization admins and integrations may write customers.");
        user.RequirePermission(Permissions.CustomersWrite);
        var v = new Validation();
        var externalId = v.Required("external_id", body.ExternalId, 128);
        var name = v.MaxLength("name", body.Name, 100);
        var phone = v.MaxLength("phone", body.Phone, 32);
        if (body.VipLevel is < 0 or > 10)
            v.Add("vip_level", "Between 0 and 10.");
        if (body.Attributes is { Count: > 50 })
            v.Add("attributes", "At most 50 attributes.");
        foreach (var (_, value) in body.Attributes ?? [])
            v.Shallow("attributes", value);
        var stores = (await db.QueryAsync<string>("SELECT id FROM stores WHERE org_id = @orgId", new { orgId = user.OrgId }, ct)).ToHashSet();
        foreach (var p in body.Purchases ?? [])
        {
            if (p is null || string.IsNullOrWhiteSpace(p.OrderNo) || string.IsNullOrWhiteSpace(p.Item) || p.OrderNo.Length > 64 || p.Item.Length > 200)
                v.Add("purchases", "Each purchase needs an order_no (≤ 64) and an item (≤ 200).");
            else if (!decimal.TryParse(p.Amount, NumberStyles.Number, CultureInfo.InvariantCulture, out _) || p.Currency is not { Length: 3 })
                v.Add("purchases", $"Purchase {p.OrderNo}: amount is a decimal string and currency a 3-letter code.");
            else if (p.StoreId is not null && !stores.Contains(p.StoreId))
                v.Add("purchases", $"Purchase {p.OrderNo}: store_id is not a store of your organization.");
        }
        v.ThrowIfAny();

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var attributes = body.Attributes is null ? null : JsonSerializer.Serialize(body.Attributes);
        var newId = Ids.New("cus", clock);
        var customerId = await db.InTransactionAsync(async (c, t) =>
        {
            if (gate is not null)
                await gate(c, t);
            var (customerId, _) = await c.QuerySingleAsync<(string, long)>(UpsertSql, new
            {
                id = newId, orgId = user.OrgId, externalId, name, phone, vip = body.VipLevel, attributes, now,
            }, t);
            foreach (var p in body.Purchases ?? [])
                await c.ExecuteAsync(UpsertPurchaseSql, new
                {
                    customerId, p.OrderNo, p.StoreId, p.Item, p.Amount, Currency = p.Currency.ToUpperInvariant(),
                    purchasedAt = p.PurchasedAt.ToUnixTimeMilliseconds(),
                }, t);
            return customerId;
        }, ct);
        var row = (await db.QuerySingleOrDefaultAsync<CustomerRow>(CustomerRow.SelectById, new { id = customerId }, ct))!;
        return (row.ToDto(await PurchasesAsync(row.Id, ct)), customerId == newId);
    }

    /// <summary>The customer a store-signed identity maps to: the same <c>sub</c> is always the same customer.</summary>
    public async Task<string> UpsertIdentityAsync(string orgId, string sub, string? name, string? phone, int? vip, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var (id, _) = (await db.QuerySingleOrDefaultAsync<(string, long)>(UpsertSql, new
        {
            id = Ids.New("cus", clock), orgId, externalId = sub, name, phone, vip, attributes = (string?)null, now,
        }, ct));
        return id;
    }
}
