-- Headless Neovim (0.11) driver: load the README's configuration ($CODEWARD_README_LUA,
-- verbatim), then do what the README says a user does: in insert mode at the cursor,
-- <C-x><C-o> to trigger, <C-y> to accept; the buffer goes to $CODEWARD_NVIM_OUT.
local out = assert(os.getenv("CODEWARD_NVIM_OUT"))
dofile(assert(os.getenv("CODEWARD_README_LUA")))
vim.o.showmode = false
local done = false

local function finish(status)
  if done then return end
  done = true
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local f = assert(io.open(out, "w"))
  f:write(status .. "\n" .. table.concat(lines, "\n"))
  f:close()
  vim.cmd("qa!")
end

vim.defer_fn(function() finish("timeout") end, 60000)

local function keys(k)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(k, true, false, true), "t", false)
end

local function poll(pred, on_ok, tries)
  if pred() then return on_ok() end
  if tries <= 0 then return finish("no-popup") end
  vim.defer_fn(function() poll(pred, on_ok, tries - 1) end, 50)
end

vim.api.nvim_create_autocmd("LspAttach", { callback = function()
  vim.defer_fn(function()  -- after the README's own LspAttach handler
    vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv("CODEWARD_LINE")),
                                     tonumber(os.getenv("CODEWARD_COL")) })
    vim.cmd("startinsert!")
    vim.defer_fn(function()
      keys("<C-x><C-o>")
      poll(function() return vim.fn.pumvisible() == 1 end, function()
        keys("<C-y><Esc>")
        vim.defer_fn(function() finish("ok") end, 800)
      end, 600)
    end, 100)
  end, 200)
end })
