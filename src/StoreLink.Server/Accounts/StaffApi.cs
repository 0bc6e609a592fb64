using System.Data.Common;
using Dapper;
using Microsoft.AspNetCore.Identity;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public sealed class StaffRow
{
    private const string Columns = "id, org_id, login, name, password_hash, disabled_at, created_at, capacity";
    public const string SelectById = $"SELECT {Columns} FROM staff WHERE id = @id";
    public const string SelectByLogin = $"SELECT {Columns} FROM staff WHERE login = @login";
    public const string SelectByOrg = $"SELECT {Columns} FROM staff WHERE org_id = @orgId ORDER BY name, id";
    public const string SelectRoles = "SELECT store_id, role FROM staff_roles WHERE staff_id = @staffId ORDER BY store_id, role";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string Login { get; set; } = "";
    public string Name { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public long? DisabledAt { get; set; }
    public long CreatedAt { get; set; }
    public int Capacity { get; set; } = 5;

    public StaffDto ToDto(IReadOnlyList<RoleDto> roles) =>
        new(Id, OrgId, Login, Name, roles, DisabledAt is not null, DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt)) { Capacity = Capacity };
}

/// <summary>
/// <c>PATCH /v1/staff/{id}</c>: a new name, or disable / enable the account (org admins), or — on one's own account
/// only, with <c>current_password</c> — a new password.
/// </summary>
public sealed record UpdateStaffRequest(string? Name, string? Password, bool? Disabled, string? CurrentPassword = null);

/// <summary><c>POST /v1/staff/{id}/password-reset</c>: the new password, or none for a generated one.</summary>
public sealed record PasswordResetRequest(string? Password);

/// <summary>The password now in force after a reset, shown once.</summary>
public sealed record PasswordResetDto(string Password);

public static class StaffApi
{
    public static void MapStaff(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/staff").RequireAuthorization().WithTags("Staff");
        group.MapGet("/", async (CurrentUser user, StaffActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ListAsync(user, ct)));
        group.MapGet("/{id}", async (string id, CurrentUser user, Access access, StaffActions actions, CancellationToken ct) =>
        {
            var staff = await access.StaffAsync(user, id, ct);
            return TypedResults.Ok(staff.ToDto(await actions.RolesAsync(staff.Id, ct)));
        });
        group.MapPost("/", async (CreateStaffRequest body, CurrentUser user, StaffActions actions, CancellationToken ct) =>
        {
            var staff = await actions.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/staff/{staff.Id}", staff);
        });
        group.MapPut("/{id}/roles", async (string id, SetRolesRequest body, CurrentUser user, StaffActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.SetRolesAsync(user, id, body, ct)));
        group.MapPatch("/{id}", async (string id, UpdateStaffRequest body, CurrentUser user, StaffActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.UpdateAsync(user, id, body, ct)));
        group.MapPost("/{id}/password-reset", async (string id, PasswordResetRequest? body, CurrentUser user, StaffActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.ResetPasswordAsync(user, id, body ?? new PasswordResetRequest(null), ct)));
    }
}

public sealed class StaffActions(
    Db db, Access access, AuthActions auth, Audit audit, Realtime.IEventBus bus, Desk.DeskSignals signals, TimeProvider clock, IPasswordHasher<StaffRow> hasher)
{
    public const int MinPasswordLength = 8;

    public async Task<IReadOnlyList<RoleDto>> RolesAsync(string staffId, CancellationToken ct) =>
        await db.QueryAsync<RoleDto>(StaffRow.SelectRoles, new { staffId }, ct);

    public async Task<StaffDto[]> ListAsync(CurrentUser user, CancellationToken ct)
    {
        Access.RequireStaff(user);
        await using var connection = await db.OpenAsync(ct);
        var staff = await connection.QueryAsync<StaffRow>(StaffRow.SelectByOrg, new { orgId = user.OrgId });
        var roles = (await connection.QueryAsync<(string StaffId, string? StoreId, string Role)>("""
            SELECT r.staff_id, r.store_id, r.role FROM staff_roles r JOIN staff s ON s.id = r.staff_id
            WHERE s.org_id = @orgId ORDER BY r.store_id, r.role
            """, new { orgId = user.OrgId })).ToLookup(r => r.StaffId, r => new RoleDto(r.StoreId, r.Role));
        return staff.Select(s => s.ToDto(roles[s.Id].ToList())).ToArray();
    }

    public async Task<StaffDto> CreateAsync(CurrentUser user, CreateStaffRequest body, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        var v = new Validation();
        var login = NormalizeLogin(v, body.Login);
        var name = v.Required("name", body.Name, 100);
        CheckPassword(v, body.Password);
        var roles = await CheckRolesAsync(v, user.OrgId, body.Roles ?? [], ct);
        v.ThrowIfAny();

        var row = new StaffRow { Id = Ids.New("stf", clock), OrgId = user.OrgId, Login = login, Name = name, CreatedAt = Now };
        row.PasswordHash = hasher.HashPassword(row, body.Password!);
        await db.InTransactionAsync(async (c, t) =>
        {
            var inserted = await c.ExecuteAsync("""
                INSERT INTO staff (id, org_id, login, name, password_hash, created_at)
                VALUES (@Id, @OrgId, @Login, @Name, @PasswordHash, @CreatedAt) ON CONFLICT (login) DO NOTHING
                """, row, t);
            if (inserted == 0)
                throw ApiException.Conflict(Texts.Get(user.Language, "login_taken", ("login", login)));
            await InsertRolesAsync(c, t, row.Id, roles);
            await audit.RecordAsync(c, t, user, AuditActions.StaffCreated, "staff", row.Id, new { login, roles });
        }, ct);
        return row.ToDto(roles);
    }

    public async Task<StaffDto> SetRolesAsync(CurrentUser user, string id, SetRolesRequest body, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, id, ct);
        Access.RequireOrgAdmin(user);
        var v = new Validation();
        var roles = await CheckRolesAsync(v, user.OrgId, body.Roles ?? [], ct);
        if (staff.Id == user.Id && !roles.Any(r => r.Role == Roles.OrgAdmin))
            v.Add("roles", "You cannot take away your own org_admin role.");
        v.ThrowIfAny();
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("DELETE FROM staff_roles WHERE staff_id = @id", new { id = staff.Id }, t);
            await InsertRolesAsync(c, t, staff.Id, roles);
            await audit.RecordAsync(c, t, user, AuditActions.RolesChanged, "staff", staff.Id, new { roles });
        }, ct);
        // Open sockets carry the old roles: they reconnect and get the new ones.
        await bus.PublishAsync(new Realtime.RealtimeEvent(Realtime.RealtimeEventKind.Reconnect, UserId: staff.Id), ct);
        foreach (var store in roles.Where(r => r.StoreId is not null))
            signals.Drain(store.StoreId!);
        return staff.ToDto(roles);
    }

    public async Task<StaffDto> UpdateAsync(CurrentUser user, string id, UpdateStaffRequest body, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, id, ct);
        var self = staff.Id == user.Id;
        if (!self && !user.IsOrgAdmin)
            throw ApiException.Forbidden("Only an organization admin may change another staff member.");
        // A token alone must not be enough to take an account over: a new password needs the current one, and
        // another account's password is reset, not changed (POST /v1/staff/{id}/password-reset).
        if (body.Password is not null && !self)
            throw ApiException.Forbidden("Reset another account's password with POST /v1/staff/{id}/password-reset.");
        var wasDisabled = staff.DisabledAt is not null;
        var v = new Validation();
        if (body.Name is not null)
            staff.Name = v.Required("name", body.Name, 100);
        if (body.Password is not null && string.IsNullOrEmpty(body.CurrentPassword))
            v.Add("current_password", "Required to change your password: your current password.");
        if (body.Password is not null)
            CheckPassword(v, body.Password);
        if (body.Disabled is not null && self)
            v.Add("disabled", "You cannot disable yourself.");
        else if (body.Disabled is not null && !user.IsOrgAdmin)
            v.Add("disabled", "Only an organization admin may disable an account.");
        else if (body.Disabled is not null)
            staff.DisabledAt = body.Disabled.Value ? staff.DisabledAt ?? Now : null;
        v.ThrowIfAny();
        // Checked last, under the login throttle: guesses of the current password count as failed sign-ins.
        if (body.Password is not null)
        {
            if (!await auth.VerifyPasswordAsync(staff, staff.Login, body.CurrentPassword!, AuditActor.Of(user), ct))
                throw ApiException.Forbidden("The current password is wrong.");
            staff.PasswordHash = hasher.HashPassword(staff, body.Password);
        }

        var disabledChanged = wasDisabled != (staff.DisabledAt is not null);
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE staff SET name = @Name, password_hash = @PasswordHash, disabled_at = @DisabledAt WHERE id = @Id", staff, t);
            // A new password or a disabled account ends every session of that account, except the caller's own.
            if (body.Password is not null || staff.DisabledAt is not null)
                await RevokeTokensAsync(c, t, staff.Id, self ? user.TokenHash : null);
            if (body.Password is not null)
                await audit.RecordAsync(c, t, user, AuditActions.PasswordChanged, "staff", staff.Id);
            if (disabledChanged)
                await audit.RecordAsync(c, t, user, staff.DisabledAt is null ? AuditActions.StaffEnabled : AuditActions.StaffDisabled, "staff", staff.Id);
        }, ct);
        if (body.Password is not null || staff.DisabledAt is not null)
            await bus.PublishAsync(new Realtime.RealtimeEvent(Realtime.RealtimeEventKind.RevokeUser, UserId: staff.Id, TokenHash: self ? user.TokenHash : null), ct);
        return staff.ToDto(await RolesAsync(staff.Id, ct));
    }

    /// <summary>
    /// An org admin sets another account's password (the given one, or a generated one that is answered once). Every
    /// token of that account is revoked and its sockets close (4001): whoever held them signs in again.
    /// </summary>
    public async Task<PasswordResetDto> ResetPasswordAsync(CurrentUser user, string id, PasswordResetRequest body, CancellationToken ct)
    {
        var staff = await access.StaffAsync(user, id, ct);
        Access.RequireOrgAdmin(user);
        if (staff.Id == user.Id)
            throw ApiException.Forbidden("Change your own password with PATCH /v1/staff/{id}, password and current_password.");
        var v = new Validation();
        var password = body.Password ?? Secrets.NewPassword();
        CheckPassword(v, password);
        v.ThrowIfAny();
        staff.PasswordHash = hasher.HashPassword(staff, password);
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE staff SET password_hash = @PasswordHash WHERE id = @Id", staff, t);
            await RevokeTokensAsync(c, t, staff.Id, keep: null);
            await audit.RecordAsync(c, t, user, AuditActions.PasswordReset, "staff", staff.Id, new { generated = body.Password is null });
        }, ct);
        await bus.PublishAsync(new Realtime.RealtimeEvent(Realtime.RealtimeEventKind.RevokeUser, UserId: staff.Id), ct);
        return new PasswordResetDto(password);
    }

    private Task RevokeTokensAsync(DbConnection c, DbTransaction t, string staffId, string? keep) =>
        c.ExecuteAsync("UPDATE access_tokens SET revoked_at = @now WHERE user_id = @staffId AND revoked_at IS NULL AND token_hash <> @keep",
            new { now = Now, staffId, keep = keep ?? "" }, t);

    public static string NormalizeLogin(Validation v, string? login)
    {
        var value = v.Required("login", login, 200).ToLowerInvariant();
        if (value.Length > 0 && (value.Length < 3 || value.Any(char.IsWhiteSpace)))
            v.Add("login", "A login is an e-mail address or a name without spaces.");
        return value;
    }

    public static bool CheckPassword(Validation v, string? password)
    {
        if (password is null || password.Length < MinPasswordLength)
            v.Add("password", $"At least {MinPasswordLength} characters.");
        else if (password.Length > 200)
            v.Add("password", "At most 200 characters.");
        else
            return true;
        return false;
    }

    private async Task<List<RoleDto>> CheckRolesAsync(Validation v, string orgId, List<RoleDto> roles, CancellationToken ct)
    {
        var stores = (await db.QueryAsync<string>("SELECT id FROM stores WHERE org_id = @orgId", new { orgId }, ct)).ToHashSet();
        foreach (var role in roles)
        {
            if (role is null)
                v.Add("roles", "A role is {\"store_id\",\"role\"}.");
            else if (role.Role == Roles.OrgAdmin && role.StoreId is not null)
                v.Add("roles", "org_admin holds for the whole organization: leave store_id out.");
            else if (role.Role != Roles.OrgAdmin && !Roles.StoreRoles.Contains(role.Role))
                v.Add("roles", $"Unknown role '{role.Role}': agent, technician, manager or org_admin.");
            else if (role.Role != Roles.OrgAdmin && (role.StoreId is null || !stores.Contains(role.StoreId)))
                v.Add("roles", $"Role '{role.Role}' needs the store_id of a store of your organization.");
        }
        return roles.Where(r => r is not null).Distinct().ToList();
    }

    private static Task InsertRolesAsync(DbConnection c, DbTransaction t, string staffId, IEnumerable<RoleDto> roles) =>
        c.ExecuteAsync("INSERT INTO staff_roles (staff_id, store_id, role) VALUES (@staffId, @StoreId, @Role)",
            roles.Select(r => new { staffId, r.StoreId, r.Role }), t);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
}
